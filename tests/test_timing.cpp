// The timing harness with a fake clock: the statistics and the stopping rule are exact.
#include <doctest/doctest.h>

#include <stdexcept>
#include <vector>

#include "harness/timing.h"

using namespace flopslab::bench;

TEST_CASE("summarize: median, quartiles, min, max and spread") {
  const Timing t = summarize({5, 1, 4, 2, 3}, 1, true);
  CHECK(t.median == 3);
  CHECK(t.min == 1);
  CHECK(t.max == 5);
  CHECK(t.q1 == 2);
  CHECK(t.q3 == 4);
  CHECK(t.spread() == doctest::Approx(2.0 / 3.0));
  CHECK(t.samples == std::vector<double>{5, 1, 4, 2, 3});  // kept in the order taken

  const Timing even = summarize({1, 2, 3, 4}, 1, true);
  CHECK(even.median == doctest::Approx(2.5));
  CHECK(even.q1 == doctest::Approx(1.75));
  CHECK(summarize({}, 1, false).median == 0);
}

TEST_CASE("measure_batches: warm-up is not sampled, and a steady clock settles") {
  int calls = 0;
  std::vector<int> batches;
  TimingOptions o;
  o.warmup_calls = 2;
  o.min_time_s = 0.05;
  o.min_samples = 5;
  const Timing t = measure_batches(
      [&](int n) {
        batches.push_back(n);
        calls += n;
        return calls <= 2 ? 1.0 : 0.01 * n;  // the first two (warm-up) calls are slow
      },
      o);
  CHECK(batches[0] == 1);
  CHECK(batches[1] == 1);
  CHECK(t.median == doctest::Approx(0.01));
  CHECK(t.max == doctest::Approx(0.01));  // the slow warm-up calls are not among the samples
  CHECK(t.settled);
  CHECK(t.samples.size() == 5);  // 5 x 10 ms reaches both min_samples and min_time
}

TEST_CASE("measure_batches: fast calls are batched so each sample is long enough") {
  TimingOptions o;
  o.min_sample_s = 1e-3;
  o.min_time_s = 0.01;
  std::vector<int> batches;
  const Timing t = measure_batches(
      [&](int n) {
        batches.push_back(n);
        return 1e-6 * n;
      },
      o);
  CHECK(t.calls_per_sample == 1000);
  CHECK(batches.back() == 1000);
  CHECK(t.median == doctest::Approx(1e-6));
}

TEST_CASE("measure_batches: a drifting clock stops at max_time unsettled") {
  TimingOptions o;
  o.min_time_s = 0.1;
  o.max_time_s = 1.0;
  double next = 0.01;
  const Timing t = measure_batches(
      [&](int) {
        next *= 1.2;  // every call 20% slower: the median never settles
        return next;
      },
      o);
  CHECK_FALSE(t.settled);
  double total = 0;
  for (double s : t.samples) total += s;
  CHECK(total >= 1.0);
  CHECK(total < 1.0 + t.samples.back() + 1e-12);  // stopped right after crossing max_time
}

TEST_CASE("measure_batches: a slow call lowers the sample count but keeps at least 3") {
  TimingOptions o;
  o.max_time_s = 3.0;
  o.min_samples = 10;
  const Timing t = measure_batches([](int n) { return 2.0 * n; }, o);
  CHECK(t.samples.size() == 3);
}

TEST_CASE("measure_batches: with warm-up off, the first call is a sample") {
  TimingOptions o;
  o.warmup_calls = 0;
  o.warmup_s = 0;
  o.min_samples = 3;
  o.max_time_s = 1;
  int calls = 0;
  const Timing t = measure_batches([&](int n) { calls += n; return 0.5 * n; }, o);
  CHECK(calls == 3);
  CHECK(t.samples.size() == 3);
}

TEST_CASE("measure_batches rejects impossible options") {
  TimingOptions o;
  o.min_samples = 0;
  CHECK_THROWS_AS(measure_batches([](int) { return 1.0; }, o), std::invalid_argument);
}

TEST_CASE("measure times real work with steady_clock") {
  volatile double sink = 0;
  const Timing t = measure([&] {
    for (int i = 0; i < 10000; ++i) sink = sink + 1.0;
  }, quick_timing());
  CHECK(t.median > 0);
  CHECK(t.min <= t.median);
  CHECK(t.median <= t.max);
}

TEST_CASE("paired_speedup: a slow round moves one ratio, not the median; fastest_round is the best round") {
  Timing a, b;
  // a takes half of b's time in every round; round 3 is a slow phase that hit a only.
  a.round_medians = {1.0, 1.0, 4.0, 1.0, 1.0};
  b.round_medians = {2.0, 2.0, 2.0, 2.0, 2.0};
  a.median = 1.0, b.median = 2.0;
  CHECK(paired_speedup(a, b) == doctest::Approx(2.0));
  CHECK(paired_speedup(b, a) == doctest::Approx(0.5));
  a.round_medians = {1.2, 0.9, 1.1};
  CHECK(a.fastest_round() == doctest::Approx(0.9));
  // Without rounds to pair (or with different counts), the pooled medians decide.
  Timing c;
  c.median = 4.0;
  CHECK(paired_speedup(c, b) == doctest::Approx(0.5));
  CHECK(c.fastest_round() == doctest::Approx(4.0));
}

TEST_CASE("measure_interleaved records one median per round for each work") {
  volatile double sink = 0;
  auto work = [&] {
    for (int i = 0; i < 2000; ++i) sink = sink + 1.0;
  };
  const std::vector<Timing> t = measure_interleaved({{work, 0.0}, {work, 0.0}}, quick_timing(), 4);
  REQUIRE(t.size() == 2);
  CHECK(t[0].round_medians.size() == 4);
  CHECK(t[1].round_medians.size() == 4);
  for (double m : t[0].round_medians) CHECK(m > 0);
  CHECK(t[0].fastest_round() <= t[0].round_medians.front());
  // A work whose first call took over half a second is timed in one round only.
  const std::vector<Timing> slow = measure_interleaved({{work, 0.0}, {work, 0.6}}, quick_timing(), 4);
  CHECK(slow[1].round_medians.size() == 1);
}
