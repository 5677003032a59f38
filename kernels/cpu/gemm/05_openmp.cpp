// Step 5: step 4 on every core, with OpenMP.
//
// The threads form a grid of tr x tc (rows x columns of C). For each panel they first pack B
// and A together, one sliver per loop iteration of an `omp for`, then each thread runs the
// same macro-kernel on its own rectangle of C: its rows of the packed A against its columns of
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

// [begin, end) of part `index` when `total` is split into `parts` near-equal runs of whole
// slivers.
std::pair<std::int64_t, std::int64_t> share(std::int64_t total, int unit, int index, int parts) {
  const std::int64_t slivers = (total + unit - 1) / unit;
  return {std::min(total, slivers * index / parts * unit), std::min(total, slivers * (index + 1) / parts * unit)};
}

}  // namespace

void gemm_packed_parallel(const Operands& op, const MicroKernel& uk, const Blocking& blk, int threads) {
  const auto [m, n, k] = op.shape;
  const ThreadGrid grid = thread_grid(m, n, std::max(threads, 1), uk.mr, uk.nr);
  if (grid.rows * grid.cols == 1 || k == 0) return gemm_packed(op, uk, blk);

  const std::int64_t kc_max = std::min(blk.kc, k);
  const std::int64_t nc_max = std::min(blk.nc, (n + uk.nr - 1) / uk.nr * uk.nr);
  // A is packed a chunk of rows at a time, all of it when the packed copy stays under 8 MiB.
  const std::int64_t chunk_unit = std::int64_t(grid.rows) * uk.mr;
  const std::int64_t chunk_rows =
      std::max(chunk_unit, std::min((m + chunk_unit - 1) / chunk_unit, ((8 << 20) / (4 * kc_max)) / chunk_unit) * chunk_unit);
  AlignedBuffer a_packed(chunk_rows * kc_max), b_packed(nc_max * kc_max);  // shared

#pragma omp parallel num_threads(grid.rows * grid.cols)
  {
    const int t = omp_get_thread_num();
    const int my_row = t / grid.cols, my_col = t % grid.cols;
    for (std::int64_t jc = 0; jc < n; jc += blk.nc) {
      const std::int64_t nc = std::min(blk.nc, n - jc);
      const auto [col_begin, col_end] = share(nc, uk.nr, my_col, grid.cols);
      for (std::int64_t pc = 0; pc < k; pc += blk.kc) {
        const std::int64_t kc = std::min(blk.kc, k - pc);
#pragma omp for schedule(static) nowait
        for (std::int64_t j0 = 0; j0 < nc; j0 += uk.nr)
          pack_b_sliver(op.b + pc * op.ldb + jc + j0, op.ldb, kc, std::min<std::int64_t>(uk.nr, nc - j0), uk.nr,
                        b_packed.data() + j0 * kc);
        for (std::int64_t ic = 0; ic < m; ic += chunk_rows) {
          const std::int64_t rows = std::min(chunk_rows, m - ic);
#pragma omp for schedule(static)
          for (std::int64_t i0 = 0; i0 < rows; i0 += uk.mr)
            pack_a(op.a + (ic + i0) * op.lda + pc, op.lda, std::min<std::int64_t>(uk.mr, rows - i0), kc, uk.mr,
                   a_packed.data() + i0 * kc);
          // (implicit barrier: both panels are complete)
          const auto [row_begin, row_end] = share(rows, uk.mr, my_row, grid.rows);
          const std::int64_t mc_step = balanced_block(row_end - row_begin, blk.mc, uk.mr);
          if (col_end > col_begin)
            for (std::int64_t i0 = row_begin; i0 < row_end; i0 += mc_step)
              macro_kernel(uk, std::min(mc_step, row_end - i0), col_end - col_begin, kc, a_packed.data() + i0 * kc,
                           b_packed.data() + col_begin * kc, op.c + (ic + i0) * op.ldc + jc + col_begin, op.ldc,
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
