// The STREAM kernels (McCalpin) on doubles, plus non-temporal-store variants.
//
// Bytes are counted the way STREAM counts them: 8 per array element read plus 8 per element
// written, per loop iteration. A normal store first reads the destination line into the cache
// ("write-allocate"), so on the memory bus copy really moves 24 bytes per element, not the 16
// STREAM counts; a non-temporal store bypasses the cache and skips that read. Comparing
// copy with copy-nt shows the difference.
#pragma once

#include <cstdint>
#include <span>

namespace flopslab::probes {

struct StreamKernel {
  const char* name;        // "triad", "copy-nt", ...
  const char* formula;     // "a[i] = b[i] + s*c[i]"
  int arrays_read, arrays_written;
  int flops_per_element;
  bool nontemporal;
  // a: destination; b, c: sources (unused ones may be null). Returns a value that depends on
  // every load for the read kernel, 0 otherwise. n must be a multiple of 8 for the
  // non-temporal kernels and a 64-byte aligned.
  double (*run)(double* a, const double* b, const double* c, std::int64_t n);

  int arrays() const { return arrays_read + arrays_written; }
  double bytes_per_element() const { return 8.0 * arrays(); }
};

// read, write, copy, scale, add, triad, then write-nt, copy-nt, triad-nt.
std::span<const StreamKernel> stream_kernels();
const StreamKernel* find_stream_kernel(const char* name);

constexpr double kStreamScalar = 3.0;

// Sums a[0], a[stride], a[2 stride], ... below n with eight independent accumulators: one
// scalar load per element touched, whatever the stride (the memory mountain's kernel).
double strided_sum(const double* a, std::int64_t n, std::int64_t stride);

}  // namespace flopslab::probes
