// Step 2: the same kernel with the thread-to-element map turned around.
//
// threadIdx.x now runs along the columns of C. A warp's 32 threads read 32 consecutive floats
// of a row of B (one 128-byte transaction), write 32 consecutive floats of C, and share one
// A[i][p] (a broadcast). Same arithmetic, a fraction of the memory transactions.
#include "kernels/cuda/gemm/cuda_gemm.h"

namespace flopslab::gemm::cuda {
namespace {

__global__ void coalesced_kernel(std::int64_t m, std::int64_t n, std::int64_t k, const float* a, std::int64_t lda,
                                 const float* b, std::int64_t ldb, float* c, std::int64_t ldc) {
  const std::int64_t j = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x;  // column
  const std::int64_t i = std::int64_t(blockIdx.y) * blockDim.y + threadIdx.y;  // row
  if (i >= m || j >= n) return;
  float sum = 0.0f;
  for (std::int64_t p = 0; p < k; ++p) sum += a[i * lda + p] * b[p * ldb + j];
  c[i * ldc + j] = sum;
}

void coalesced(const Operands& op, const RunContext& ctx) {
  if (empty(op)) return;
  const dim3 block(32, 32), grid(blocks(op.shape.n, 32), blocks(op.shape.m, 32));
  coalesced_kernel<<<grid, block, 0, stream_of(ctx)>>>(op.shape.m, op.shape.n, op.shape.k, op.a, op.lda, op.b,
                                                       op.ldb, op.c, op.ldc);
  FLOPSLAB_CUDA_CHECK_LAUNCH();
}

}  // namespace

extern const GemmVariant kCudaCoalesced{
    .name = "cuda-coalesced",
    .step = 2,
    .device = Device::cuda,
    .idea = "a warp spans columns: its loads of B and stores of C are one coalesced transaction each",
    .run = coalesced,
};

}  // namespace flopslab::gemm::cuda
