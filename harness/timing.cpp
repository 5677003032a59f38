// Warm-up, repetitions until a minimum time, and the median and spread of the samples.
#include "harness/timing.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <stdexcept>

namespace flopslab::bench {
namespace {

// Linear interpolation between order statistics (the "type 7" quantile of R and NumPy).
double quantile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0.0;
  const double pos = q * double(sorted.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const std::size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (pos - double(lo)) * (sorted[hi] - sorted[lo]);
}

double median_of(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return quantile(values, 0.5);
}

}  // namespace

TimingOptions quick_timing() {
  TimingOptions o;
  o.min_time_s = 0.02;
  o.max_time_s = 0.2;
  o.warmup_s = 0.01;
  o.min_samples = 3;
  o.settle = 0.05;
  return o;
}

Timing summarize(std::vector<double> samples, int calls_per_sample, bool settled) {
  Timing t;
  t.calls_per_sample = calls_per_sample;
  t.settled = settled;
  std::vector<double> sorted = samples;
  std::sort(sorted.begin(), sorted.end());
  if (!sorted.empty()) {
    t.min = sorted.front();
    t.max = sorted.back();
    t.median = quantile(sorted, 0.5);
    t.q1 = quantile(sorted, 0.25);
    t.q3 = quantile(sorted, 0.75);
  }
  t.samples = std::move(samples);
  return t;
}

double Timing::fastest_round() const {
  if (round_medians.empty()) return median;
  return *std::min_element(round_medians.begin(), round_medians.end());
}

double paired_speedup(const Timing& a, const Timing& b) {
  const std::size_t rounds = std::min(a.round_medians.size(), b.round_medians.size());
  if (rounds == 0 || a.round_medians.size() != b.round_medians.size())
    return a.median > 0 ? b.median / a.median : std::nan("");
  std::vector<double> ratios;
  for (std::size_t r = 0; r < rounds; ++r)
    if (a.round_medians[r] > 0) ratios.push_back(b.round_medians[r] / a.round_medians[r]);
  return ratios.empty() ? std::nan("") : median_of(ratios);
}

Timing measure_batches(const std::function<double(int)>& time_batch, const TimingOptions& o) {
  if (o.min_samples < 1 || o.max_samples < o.min_samples)
    throw std::invalid_argument("timing: need 1 <= min_samples <= max_samples");

  // The first call calibrates the batch size; it is a sample only when warm-up is off.
  double first = time_batch(1), warm = first;
  for (int i = 1; i < o.warmup_calls || warm < o.warmup_s; ++i) {
    first = time_batch(1);
    warm += first;
  }
  const bool first_is_sample = o.warmup_calls <= 0 && o.warmup_s <= 0;

  // Batch calls shorter than min_sample_s; slow calls get fewer samples when min_samples of
  // them would blow the time budget (but never fewer than 3).
  const int batch = first >= o.min_sample_s
                        ? 1
                        : static_cast<int>(std::min(1e6, std::ceil(o.min_sample_s / std::max(first, 1e-9) - 1e-9)));
  int min_samples = o.min_samples;
  if (first * min_samples > o.max_time_s)
    min_samples = std::max(3, static_cast<int>(o.max_time_s / std::max(first, 1e-12)));
  min_samples = std::min(min_samples, o.max_samples);

  std::vector<double> samples;
  double total = 0;
  bool settled = false;
  if (first_is_sample && batch == 1) {
    samples.push_back(first);
    total = first;
  }
  while (true) {
    const double elapsed = time_batch(batch);
    samples.push_back(elapsed / batch);
    total += elapsed;
    const int n = static_cast<int>(samples.size());
    if (n >= min_samples && total >= o.min_time_s) {
      const double all = median_of(samples);
      const double first_half = median_of({samples.begin(), samples.begin() + (n + 1) / 2});
      settled = all > 0 && std::abs(first_half - all) <= o.settle * all;
      if (settled) break;
    }
    if (n >= o.max_samples || (n >= min_samples && total >= o.max_time_s)) break;
  }
  return summarize(std::move(samples), batch, settled);
}

Timing measure(const std::function<void()>& work, const TimingOptions& options) {
  return measure_batches(
      [&work](int calls) {
        const auto start = std::chrono::steady_clock::now();
        for (int i = 0; i < calls; ++i) work();
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      },
      options);
}

std::vector<Timing> measure_interleaved(const std::vector<ComparedWork>& works, const TimingOptions& options,
                                        int rounds) {
  rounds = std::max(rounds, 1);
  std::vector<std::vector<double>> samples(works.size());
  std::vector<int> batch(works.size(), 1);
  std::vector<bool> settled(works.size(), true);
  std::vector<std::vector<double>> round_medians(works.size());
  for (int round = 0; round < rounds; ++round)
    for (std::size_t i = 0; i < works.size(); ++i) {
      const bool single_round = works[i].first_call_s > 0.5;
      if (single_round && round > 0) continue;
      TimingOptions timing = options;
      if (works[i].first_call_s > 0.2) timing.warmup_calls = 0, timing.warmup_s = 0;  // that call warmed it up
      if (!single_round && rounds > 1) {
        timing.min_time_s /= rounds;
        timing.max_time_s /= rounds;
        timing.min_samples = std::max(2, timing.min_samples / rounds);
        if (round > 0) timing.warmup_s = std::min(timing.warmup_s, 0.01);
      }
      const Timing part = measure(works[i].run, timing);
      samples[i].insert(samples[i].end(), part.samples.begin(), part.samples.end());
      batch[i] = part.calls_per_sample;
      round_medians[i].push_back(part.median);
      settled[i] = settled[i] && part.settled;
    }
  std::vector<Timing> out;
  for (std::size_t i = 0; i < works.size(); ++i) {
    out.push_back(summarize(samples[i], batch[i], settled[i]));
    out.back().round_medians = std::move(round_medians[i]);
  }
  return out;
}

}  // namespace flopslab::bench
