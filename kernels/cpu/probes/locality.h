// Kernels for the locality probe: the same work in a cache-friendly and a cache-hostile
// order.
#pragma once

#include <cstdint>

namespace flopslab::probes {

// Sum of a rows x cols row-major matrix, visiting it row by row (consecutive addresses) or
// column by column (a jump of cols x 8 bytes per element). Same additions, same order within
// each traversal's own sequence; scalar on purpose so only the access order differs.
double sum_row_major(const double* m, std::int64_t rows, std::int64_t cols);
double sum_column_major(const double* m, std::int64_t rows, std::int64_t cols);

// out = in^T for an n x n row-major matrix. Naive: rows of `in` read in order, so `out` is
// written down columns. Blocked: block x block tiles, so both sides stay within a few lines.
void transpose_naive(const float* in, float* out, std::int64_t n);
void transpose_blocked(const float* in, float* out, std::int64_t n, std::int64_t block);

}  // namespace flopslab::probes
