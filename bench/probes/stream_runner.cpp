// STREAM on a pinned team of threads, each on its own first-touched slice.
#include "bench/probes/stream_runner.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstring>

#include "harness/affinity.h"

namespace flopslab::bench {
namespace {

// Thread t's slice of n elements: whole multiples of 8 doubles (one cache line, and the
// alignment the non-temporal kernels need).
std::pair<std::int64_t, std::int64_t> slice(std::int64_t n, int t, int threads) {
  const std::int64_t lines = n / 8;
  return {lines * t / threads * 8, t + 1 == threads ? n : lines * (t + 1) / threads * 8};
}

}  // namespace

StreamArrays::StreamArrays(std::int64_t n, int threads)
    : elements(n), a(n * 8, false), b(n * 8 + kOffsetB, false), c(n * 8 + kOffsetC, false) {
  pin_team(threads);
#pragma omp parallel num_threads(threads)
  {
    const auto [lo, hi] = slice(n, omp_get_thread_num(), threads);
    for (std::int64_t i = lo; i < hi; ++i) pa()[i] = 0.0, pb()[i] = 1.0, pc()[i] = 2.0;
  }
}

StreamResult measure_stream(const probes::StreamKernel& kernel, const StreamArrays& arrays, std::int64_t n,
                            int threads, const TimingOptions& options) {
  n = std::min(n, arrays.elements) / 8 * 8;
  pin_team(threads);
  double sink = 0;
  StreamResult r;
  r.timing = measure_batches(
      [&](int calls) {
        const auto start = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(threads) reduction(+ : sink)
        {
          const auto [lo, hi] = slice(n, omp_get_thread_num(), threads);
          for (int c = 0; c < calls; ++c) sink += kernel.run(arrays.pa() + lo, arrays.pb() + lo, arrays.pc() + lo, hi - lo);
        }
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      },
      options);
  r.gbytes_per_s = kernel.bytes_per_element() * double(n) / r.timing.median * 1e-9;
  volatile double keep = sink;  // the read kernel's sums stay live
  (void)keep;
  return r;
}

}  // namespace flopslab::bench
