// The measured FMA ceiling: what "% of peak" in the GEMM tables is relative to.
#pragma once

#include "harness/timing.h"
#include "kernels/cpu/probes/fma_chains.h"

namespace flopslab::bench {

struct PeakMeasurement {
  const probes::FmaLoop* loop = nullptr;
  int threads = 1;
  double flops_per_call = 0;  // all threads together
  Timing timing;

  // A ceiling: the fastest call, not the typical one. On a shared or throttling machine the
  // median of a short FMA run can fall below what a later kernel reaches.
  double gflops() const { return timing.min > 0 ? flops_per_call / timing.min * 1e-9 : 0.0; }
};

// Runs the loop on `threads` threads at once (OpenMP) and times the whole parallel region.
PeakMeasurement measure_fma_peak(const probes::FmaLoop& loop, int threads,
                                 const TimingOptions& options = {});

}  // namespace flopslab::bench
