// The GEMM sweep: every selected registry variant at every shape and thread count, each
// result checked against the float64 reference, timed with the harness, and set against the
// measured FMA peak, the best peer library and the naive loop of the same run.
#pragma once

#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "harness/counters.h"
#include "harness/machine/cpu_peak.h"
#include "harness/check/gemm_check.h"
#include "harness/format.h"
#include "harness/json.h"
#include "harness/table.h"
#include "harness/timing.h"
#include "bench/sweeps/variant_table.h"
#include "kernels/registry.h"

namespace flopslab::bench {

struct GemmSweepOptions {
  std::vector<gemm::Shape> shapes;
  std::vector<int> threads{1};
  std::vector<const GemmVariant*> variants;  // CPU variants; ladder rungs and peers
  TimingOptions timing;
  // A variant whose call is predicted (from its rate at a smaller shape) to take longer than
  // this is skipped at that shape and says so, instead of stalling the sweep.
  double max_call_seconds = 2.0;
  std::function<void(const std::string&)> progress;  // one line per measurement, may be empty
  std::uint64_t seed = 1;
  // The variants of one (shape, threads) cell are timed in this many interleaved rounds, their
  // samples pooled (see run_gemm_sweep); 1 times each variant in one stretch.
  int interleave_rounds = 3;
};

struct GemmRow {
  const GemmVariant* variant = nullptr;
  gemm::Shape shape;
  int threads = 1;
  std::string skipped;  // why it was not measured; empty when it was
  std::optional<Timing> timing;
  GemmCheck check;                           // against the float64 reference
  std::optional<ToleranceCheck> vs_library;  // GPU rows: against cuBLAS FP32's result
  // One more call of a one-thread CPU row under perf_event (where the PMU is readable): its
  // last-level-cache misses, the bytes it read from DRAM / 64 (the roofline's measured intensity).
  std::optional<CounterValues> counted;

  double gflops() const;
  bool passed() const { return check.passed() && (!vs_library || vs_library->passed()); }
};

struct GemmSweep {
  std::vector<const GemmVariant*> variants;  // as selected
  std::vector<GemmRow> rows;
  std::vector<PeakMeasurement> peaks;  // FP32 FMA peak per thread count, widest ISA (the better
                                       // of a run before and one after the sweep)
  double gpu_peak_gflops = std::numeric_limits<double>::quiet_NaN();  // the GPU's measured FP32 peak
  std::string counters;  // "perf_event", or why the rows have no counted call
  std::string cache_note;  // where the blocks use a measured last level instead of the OS's (empty: they do not)

  const GemmRow* find(std::string_view variant, gemm::Shape shape, int threads) const;
  // NaN when there is nothing to compare with. Peers and the naive rung are taken from the
  // row's own device.
  double peak_gflops(int threads) const;
  double peak_for(const GemmRow& row) const;
  double best_peer_gflops(const GemmRow& row) const;
  double naive_gflops(const GemmRow& row) const;  // step 1 of the row's device (one thread on the CPU)
  bool all_checks_passed() const;
};

// The sweep `flopslab gemm` and the report run by default: sizes 256 to 2048 (quick: 64 and
// 127), one thread and every physical core, every CPU variant in the registry.
GemmSweepOptions default_gemm_sweep(int physical_cores, bool quick);

// Empty when the options can run here; otherwise a one-line reason (for example a shape whose
// matrices would not fit in the memory the OS has available).
std::string gemm_sweep_problem(const GemmSweepOptions& options);

GemmSweep run_gemm_sweep(const GemmSweepOptions& options);

Table gemm_sweep_table(const GemmSweep& sweep);
// One sentence per thread count about the largest shape: the best rung against the peak and
// against each peer.
std::vector<std::string> gemm_sweep_headlines(const GemmSweep& sweep);
Json gemm_sweep_json(const GemmSweep& sweep);

}  // namespace flopslab::bench
