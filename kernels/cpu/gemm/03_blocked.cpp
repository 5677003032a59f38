// Step 3: cache blocking.
//
// In i-k-j order every row i of C streams all of B (k x n floats) through the caches; once B
// outgrows the last-level cache it comes from DRAM again for every i. Blocking cuts B into
// tiles of kBlockK x kBlockN (64 x 1024 floats = 256 KiB, sized for a typical L2) and runs a
// block of kBlockM rows of A over one tile before moving on, so each tile is fetched from
// memory once per row block instead of once per row, and the 4 KiB segment of a C row stays in
// L1 while 64 rows of the tile are added into it. The innermost loop is still the vectorised
// row update, which is why this rung gains nothing while B fits in cache: its speed is then
// set by loading and storing C for every p, which only step 4 removes.
#include <algorithm>

#include "kernels/cpu/multiversion.h"
#include "kernels/registry.h"

namespace flopslab::gemm {
namespace {

constexpr std::int64_t kBlockM = 32, kBlockK = 64, kBlockN = 1024;

FLOPSLAB_MULTIVERSION(void, blocked, (const Operands& op, [[maybe_unused]] const RunContext& ctx), (op, ctx)) {
  const auto [m, n, k] = op.shape;
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t j = 0; j < n; ++j) op.c[i * op.ldc + j] = 0.0f;

  for (std::int64_t j0 = 0; j0 < n; j0 += kBlockN) {
    const std::int64_t j1 = std::min(j0 + kBlockN, n);
    for (std::int64_t p0 = 0; p0 < k; p0 += kBlockK) {
      const std::int64_t p1 = std::min(p0 + kBlockK, k);
      for (std::int64_t i0 = 0; i0 < m; i0 += kBlockM) {
        const std::int64_t i1 = std::min(i0 + kBlockM, m);
        // One tile: C[i0:i1, j0:j1] += A[i0:i1, p0:p1] * B[p0:p1, j0:j1]
        for (std::int64_t i = i0; i < i1; ++i) {
          float* __restrict c_row = op.c + i * op.ldc;
          for (std::int64_t p = p0; p < p1; ++p) {
            const float a_ip = op.a[i * op.lda + p];
            const float* __restrict b_row = op.b + p * op.ldb;
            for (std::int64_t j = j0; j < j1; ++j) c_row[j] += a_ip * b_row[j];
          }
        }
      }
    }
  }
}

}  // namespace

extern const GemmVariant kCpuBlocked{
    .name = "blocked",
    .step = 3,
    .idea = "cache blocking: a 64x1024 tile of B is reused by 32 rows of A while it is in L2",
    .run = blocked,
};

}  // namespace flopslab::gemm
