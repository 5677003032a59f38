// Step 5: step 4 on every core, with OpenMP.
//
// The threads form a grid of tr x tc (rows x columns of C). For each panel they first pack B
// (eight slivers per iteration of an `omp for`) and A (one sliver per iteration) together,
// then each thread runs the same macro-kernel on its own rectangle of C: its rows of the packed A against its columns of
// the packed B. Splitting columns as well as rows matters on many cores: with rows alone,
// every thread would stream the whole B panel through its caches; on a 4 x 4 grid each reads a
// quarter of A and a quarter of B. Nothing is written by two threads, so the only
// synchronisation is the barrier after each packing step and before packed data is reused.
#include <omp.h>

#include <algorithm>

#include "kernels/cpu/gemm/packed.h"
#include "kernels/registry.h"

namespace flopslab::gemm::packed {

ThreadGrid thread_grid(std::int64_t m, std::int64_t n, int threads, int mr, int nr) {
  // Minimise what one thread reads per panel, m / rows + n / cols, among the factorisations
  // that leave every thread at least one sliver of each; on a tie, split rows.
  const std::int64_t row_slivers = (m + mr - 1) / mr, col_slivers = (n + nr - 1) / nr;
  ThreadGrid best{1, 1};
  double best_cost = -1;
  for (int rows = threads; rows >= 1; --rows) {
    if (threads % rows != 0) continue;
    const int cols = threads / rows;
    if (rows > row_slivers || cols > col_slivers) continue;
    const double cost = double(m) / rows + double(n) / cols;
    if (best_cost < 0 || cost < best_cost) best = {rows, cols}, best_cost = cost;
  }
  if (best_cost < 0) {  // too small a problem for this many threads: as many rows as fit
    best = {static_cast<int>(std::clamp<std::int64_t>(row_slivers, 1, threads)), 1};
  }
  return best;
}

namespace {

constexpr int kGroup = 8;  // B slivers packed together (nr <= 64)

// [begin, end) of part `index` when `total` is split into `parts` near-equal runs of whole
// slivers.
std::pair<std::int64_t, std::int64_t> share(std::int64_t total, int unit, int index, int parts) {
  const std::int64_t slivers = (total + unit - 1) / unit;
  return {std::min(total, slivers * index / parts * unit), std::min(total, slivers * (index + 1) / parts * unit)};
}

}  // namespace

void gemm_packed_parallel(const Operands& op, const MicroKernel& uk, const Blocking& blk, int threads) {
  const BRowReader from_matrix = [&](std::int64_t row, std::int64_t col0, std::int64_t cols, float* out) {
    std::copy_n(op.b + row * op.ldb + col0, cols, out);
  };
  gemm_packed_parallel(op.shape, op.a, op.lda, from_matrix, op.c, op.ldc, uk, blk, threads);
}

void gemm_packed_parallel(Shape shape, const float* a, std::int64_t lda, const BRowReader& read_b_row, float* c,
                          std::int64_t ldc, const MicroKernel& uk, const Blocking& blk, int threads) {
  const auto [m, n, k] = shape;
  if (k == 0) {  // an empty sum: C = 0
    for (std::int64_t i = 0; i < m; ++i) std::fill_n(c + i * ldc, n, 0.0f);
    return;
  }
  const ThreadGrid grid = thread_grid(m, n, std::max(threads, 1), uk.mr, uk.nr);

  const std::int64_t kc_max = std::min(blk.kc, k);
  const std::int64_t nc_max = std::min(blk.nc, (n + uk.nr - 1) / uk.nr * uk.nr);
  // A is packed a chunk of rows at a time, all of it when the packed copy stays under 8 MiB.
  const std::int64_t chunk_unit = std::int64_t(grid.rows) * uk.mr;
  const std::int64_t chunk_rows =
      std::max(chunk_unit, std::min((m + chunk_unit - 1) / chunk_unit, ((8 << 20) / (4 * kc_max)) / chunk_unit) * chunk_unit);
  // Shared by the team; allocated by (and kept with) the calling thread.
  float* const a_packed = reusable_scratch(0, chunk_rows * kc_max);
  float* const b_packed = reusable_scratch(1, nc_max * kc_max);

#pragma omp parallel num_threads(grid.rows * grid.cols)
  {
    const int t = omp_get_thread_num();
    const int my_row = t / grid.cols, my_col = t % grid.cols;
    for (std::int64_t jc = 0; jc < n; jc += blk.nc) {
      const std::int64_t nc = std::min(blk.nc, n - jc);
      const auto [col_begin, col_end] = share(nc, uk.nr, my_col, grid.cols);
      for (std::int64_t pc = 0; pc < k; pc += blk.kc) {
        const std::int64_t kc = std::min(blk.kc, k - pc);
        // B is packed in groups of 8 slivers, row by row: each row of a group is one
        // contiguous read of 8 * nr floats. Packing sliver by sliver would read kc rows
        // kc * ldb bytes apart for every sliver, a page and a cache miss per row that the
        // prefetchers cannot follow; with few rows of A to amortise it (a convolution's K
        // filters), that alone cost half the speed.
#pragma omp for schedule(static) nowait
        for (std::int64_t j0 = 0; j0 < nc; j0 += kGroup * uk.nr) {
          const std::int64_t cols = std::min<std::int64_t>(kGroup * uk.nr, nc - j0);
          alignas(64) float row[kGroup * 64];
          for (std::int64_t p = 0; p < kc; ++p) {
            read_b_row(pc + p, jc + j0, cols, row);
            std::fill(row + cols, row + (cols + uk.nr - 1) / uk.nr * uk.nr, 0.0f);  // the right edge
            for (std::int64_t s = 0; s < cols; s += uk.nr)
              std::copy_n(row + s, uk.nr, b_packed + (j0 + s) * kc + p * uk.nr);
          }
        }
        for (std::int64_t ic = 0; ic < m; ic += chunk_rows) {
          const std::int64_t rows = std::min(chunk_rows, m - ic);
#pragma omp for schedule(static)
          for (std::int64_t i0 = 0; i0 < rows; i0 += uk.mr)
            pack_a(a + (ic + i0) * lda + pc, lda, std::min<std::int64_t>(uk.mr, rows - i0), kc, uk.mr,
                   a_packed + i0 * kc);
          // (implicit barrier: both panels are complete)
          const auto [row_begin, row_end] = share(rows, uk.mr, my_row, grid.rows);
          const std::int64_t mc_step = balanced_block(row_end - row_begin, blk.mc, uk.mr);
          if (col_end > col_begin)
            for (std::int64_t i0 = row_begin; i0 < row_end; i0 += mc_step)
              macro_kernel(uk, std::min(mc_step, row_end - i0), col_end - col_begin, kc, a_packed + i0 * kc,
                           b_packed + col_begin * kc, c + (ic + i0) * ldc + jc + col_begin, ldc,
                           /*accumulate=*/pc > 0);
#pragma omp barrier
          // (nobody reads the packed panels any more when the next ones are packed over them)
        }
      }
    }
  }
}

namespace {

void openmp(const Operands& op, const RunContext& ctx) {
  const MicroKernel& uk = micro_kernel(best_simd_path());
  gemm_packed_parallel(op, uk, default_blocking(uk), ctx.threads);
}

}  // namespace
}  // namespace flopslab::gemm::packed

namespace flopslab::gemm {
extern const GemmVariant kCpuOpenmp{
    .name = "openmp",
    .step = 5,
    .multithreaded = true,
    .idea = "step 4 on all cores: threads pack A and B together, then each multiplies its block of C",
    .run = packed::openmp,
    .detail = packed::describe_choice,
};
}  // namespace flopslab::gemm
