// Step 5: step 4 on every core, with OpenMP.
//
// The threads share each packed panel of B (they pack it together, one B sliver per loop
// iteration, then wait at a barrier) and split the rows of C: thread t owns a contiguous
// range of A slivers, packs its own A blocks into a private buffer and runs the same
// macro-kernel. Nothing is written by two threads, so the only synchronisation is the two
// barriers around each shared B panel.
#include <omp.h>

#include <algorithm>

#include "kernels/cpu/gemm/packed.h"
#include "kernels/registry.h"

namespace flopslab::gemm::packed {

void gemm_packed_parallel(const Operands& op, const MicroKernel& uk, const Blocking& blk,
                          int threads) {
  const auto [m, n, k] = op.shape;
  const std::int64_t slivers = (m + uk.mr - 1) / uk.mr;  // rows of C in units of mr
  threads = static_cast<int>(std::clamp<std::int64_t>(threads, 1, std::max<std::int64_t>(slivers, 1)));
  if (threads == 1 || k == 0) return gemm_packed(op, uk, blk);

  const std::int64_t kc_max = std::min(blk.kc, k);
  const std::int64_t nc_max = std::min(blk.nc, (n + uk.nr - 1) / uk.nr * uk.nr);
  AlignedBuffer b_packed(nc_max * kc_max);  // shared by all threads

#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    const std::int64_t row_begin = std::min(m, slivers * t / nt * uk.mr);
    const std::int64_t row_end = std::min(m, slivers * (t + 1) / nt * uk.mr);
    const std::int64_t mc_step = balanced_block(row_end - row_begin, blk.mc, uk.mr);
    AlignedBuffer a_packed(mc_step * kc_max);

    for (std::int64_t jc = 0; jc < n; jc += blk.nc) {
      const std::int64_t nc = std::min(blk.nc, n - jc);
      for (std::int64_t pc = 0; pc < k; pc += blk.kc) {
        const std::int64_t kc = std::min(blk.kc, k - pc);
#pragma omp for schedule(static)
        for (std::int64_t j0 = 0; j0 < nc; j0 += uk.nr)
          pack_b_sliver(op.b + pc * op.ldb + jc + j0, op.ldb, kc,
                        std::min<std::int64_t>(uk.nr, nc - j0), uk.nr, b_packed.data() + j0 * kc);
        // (implicit barrier: the panel is complete)
        for (std::int64_t ic = row_begin; ic < row_end; ic += mc_step) {
          const std::int64_t mc = std::min(mc_step, row_end - ic);
          pack_a(op.a + ic * op.lda + pc, op.lda, mc, kc, uk.mr, a_packed.data());
          macro_kernel(uk, mc, nc, kc, a_packed.data(), b_packed.data(),
                       op.c + ic * op.ldc + jc, op.ldc, /*accumulate=*/pc > 0);
        }
#pragma omp barrier
        // (nobody still reads the panel when the next one is packed over it)
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
    .idea = "step 4 on all cores: threads share each packed B panel and split the rows of C",
    .run = packed::openmp,
};
}  // namespace flopslab::gemm
