// Timing done once, for every measurement in flopslab: warm-up, repetitions until a minimum
// time has passed and the median has settled, then median, min and spread.
//
// The statistics do not care which clock took the samples. measure() uses steady_clock
// around CPU work; the GPU harness passes a function that times a batch with CUDA events.
#pragma once

#include <functional>
#include <vector>

namespace flopslab::bench {

struct TimingOptions {
  int warmup_calls = 1;          // untimed first calls: page faults, caches, thread pools,
  double warmup_s = 0.05;        // ... and keep warming up this long (clocks ramp, threads migrate)
                                 // 0 and 0: the caller warmed up; the first call is a sample
  double min_time_s = 0.25;      // sample at least this long in total
  double max_time_s = 3.0;       // stop after this long even when the median still moves
  int min_samples = 5;
  int max_samples = 2000;
  double min_sample_s = 200e-6;  // batch short calls so one sample is far above clock jitter
  double settle = 0.01;          // stable: median of the first half within 1% of the median
};

// Fast settings for smoke tests and --quick runs.
TimingOptions quick_timing();

struct Timing {
  std::vector<double> samples;  // seconds per call, in the order taken
  int calls_per_sample = 1;
  double median = 0, min = 0, max = 0, q1 = 0, q3 = 0;
  bool settled = false;  // the median stopped moving before the time ran out
  std::vector<double> round_medians;  // measure_interleaved: the median of each round it ran in

  // Interquartile range relative to the median: 0.02 means the middle half of the samples
  // lies within a 2% band.
  double spread() const { return median > 0 ? (q3 - q1) / median : 0.0; }
  // The median of the fastest round (the pooled median when there were no rounds): what the
  // work does when nothing else slows it, for claims about what hardware can do.
  double fastest_round() const;
};

// Time of b over time of a, round by round (a and b timed in the same interleaved rounds),
// and the median of those ratios: a slow phase that covers one round moves that round's ratio
// only. Falls back to the pooled medians when either has no rounds. 2.0 means a took half b's time.
double paired_speedup(const Timing& a, const Timing& b);

// Order statistics of a set of per-call times.
Timing summarize(std::vector<double> samples, int calls_per_sample, bool settled);

// time_batch(n) runs the work n times back to back and returns the elapsed seconds.
Timing measure_batches(const std::function<double(int)>& time_batch, const TimingOptions& options);

// CPU work timed with std::chrono::steady_clock.
Timing measure(const std::function<void()>& work, const TimingOptions& options = {});

// Several pieces of work compared with each other, timed in interleaved rounds: on a shared
// or throttling machine a slow phase of a few seconds then slows all of them alike instead of
// one, so the ratios between them hold. Each one's samples from all rounds are pooled. A piece
// whose first (already done, checked) call took more than half a second is timed in one round.
struct ComparedWork {
  std::function<void()> run;
  double first_call_s = 0;  // how long its first call took (that call was the warm-up)
};
std::vector<Timing> measure_interleaved(const std::vector<ComparedWork>& works, const TimingOptions& options,
                                        int rounds);

}  // namespace flopslab::bench
