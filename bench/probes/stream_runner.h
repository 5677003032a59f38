// Running a STREAM kernel on a pinned team of threads, each on its own slice of the arrays,
// timed by the harness: one parallel region per timed batch, so fork/join costs nothing at
// small working sets.
#pragma once

#include <cstdint>

#include "harness/memory.h"
#include "harness/timing.h"
#include "kernels/cpu/probes/stream.h"

namespace flopslab::bench {

// Three arrays a, b, c of `elements` doubles each, first touched by the same pinned threads
// (and slices) that will use them. Like STREAM's OFFSET, b and c start 1088 and 2176 bytes
// into their buffers: were all three 2 MiB aligned, a[i], b[i] and c[i] would share their
// address bits below 4 KiB, collide in the same L1 sets, and a store to a[i] would falsely
// appear to feed later loads of b and c (4K aliasing), making small working sets bimodal.
struct StreamArrays {
  StreamArrays(std::int64_t elements, int threads);
  std::int64_t elements;
  HugeBuffer a, b, c;
  static constexpr std::int64_t kOffsetB = 1088, kOffsetC = 2176;
  double* pa() const { return reinterpret_cast<double*>(a.data()); }
  double* pb() const { return reinterpret_cast<double*>(b.data() + kOffsetB); }
  double* pc() const { return reinterpret_cast<double*>(c.data() + kOffsetC); }
};

struct StreamResult {
  double gbytes_per_s = 0;  // STREAM-counted bytes (decimal GB) over the median time
  Timing timing;
};

// Kernel over the first n elements of each array on `threads` pinned threads.
StreamResult measure_stream(const probes::StreamKernel& kernel, const StreamArrays& arrays, std::int64_t n,
                            int threads, const TimingOptions& options);

}  // namespace flopslab::bench
