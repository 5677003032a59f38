// Step 2: the same arithmetic in i-k-j order.
//
// Swapping the two inner loops turns the column walk into row walks: for a fixed A[i][p],
// row p of B is added, scaled, into row i of C. Both rows are contiguous, every byte of a
// fetched cache line is used, and the j loop has no dependency between iterations, so the
// compiler vectorises it. It is compiled for AVX-512, AVX2+FMA and baseline SSE2, and the
// copy for this CPU runs (kernels/cpu/multiversion.h).
#include "kernels/cpu/multiversion.h"
#include "kernels/registry.h"

namespace flopslab::gemm {
namespace {

FLOPSLAB_MULTIVERSION(void, loop_order, (const Operands& op, [[maybe_unused]] const RunContext& ctx), (op, ctx)) {
  const auto [m, n, k] = op.shape;
  for (std::int64_t i = 0; i < m; ++i) {
    float* __restrict c_row = op.c + i * op.ldc;
    for (std::int64_t j = 0; j < n; ++j) c_row[j] = 0.0f;
    for (std::int64_t p = 0; p < k; ++p) {
      const float a_ip = op.a[i * op.lda + p];
      const float* __restrict b_row = op.b + p * op.ldb;
      for (std::int64_t j = 0; j < n; ++j) c_row[j] += a_ip * b_row[j];
    }
  }
}

}  // namespace

extern const GemmVariant kCpuLoopOrder{
    .name = "loop-order",
    .step = 2,
    .idea = "i-k-j order: contiguous rows of B and C, so the inner loop vectorises",
    .run = loop_order,
};

}  // namespace flopslab::gemm
