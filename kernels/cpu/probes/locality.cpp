// The locality probe's kernels: row- against column-order traversal and their friends.
#include "kernels/cpu/probes/locality.h"

#include <algorithm>

namespace flopslab::probes {

double sum_row_major(const double* m, std::int64_t rows, std::int64_t cols) {
  double sum = 0;
  for (std::int64_t i = 0; i < rows; ++i)
    for (std::int64_t j = 0; j < cols; ++j) sum += m[i * cols + j];
  return sum;
}

double sum_column_major(const double* m, std::int64_t rows, std::int64_t cols) {
  double sum = 0;
  for (std::int64_t j = 0; j < cols; ++j)
    for (std::int64_t i = 0; i < rows; ++i) sum += m[i * cols + j];
  return sum;
}

void transpose_naive(const float* in, float* out, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < n; ++j) out[j * n + i] = in[i * n + j];
}

void transpose_blocked(const float* in, float* out, std::int64_t n, std::int64_t block) {
  for (std::int64_t i0 = 0; i0 < n; i0 += block)
    for (std::int64_t j0 = 0; j0 < n; j0 += block) {
      const std::int64_t i1 = std::min(i0 + block, n), j1 = std::min(j0 + block, n);
      for (std::int64_t i = i0; i < i1; ++i)
        for (std::int64_t j = j0; j < j1; ++j) out[j * n + i] = in[i * n + j];
    }
}

}  // namespace flopslab::probes
