// Step 1: the textbook triple loop, i-j-k.
//
// Every C[i][j] is a dot product of row i of A with column j of B. The inner loop walks down
// a column of B: consecutive p are ldb floats apart, so each load touches a new cache line
// and uses 4 of its 64 bytes. The running sum is one dependent chain of adds, which the
// compiler may not reorder (that would change the rounding), so nothing is vectorised.
#include "kernels/registry.h"

namespace flopslab::gemm {
namespace {

void naive(const Operands& op, const RunContext&) {
  const auto [m, n, k] = op.shape;
  for (std::int64_t i = 0; i < m; ++i) {
    for (std::int64_t j = 0; j < n; ++j) {
      float sum = 0.0f;
      for (std::int64_t p = 0; p < k; ++p) sum += op.a[i * op.lda + p] * op.b[p * op.ldb + j];
      op.c[i * op.ldc + j] = sum;
    }
  }
}

}  // namespace

extern const GemmVariant kCpuNaive{
    .name = "naive",
    .step = 1,
    .idea = "i-j-k triple loop: a strided walk down each column of B",
    .run = naive,
};

}  // namespace flopslab::gemm
