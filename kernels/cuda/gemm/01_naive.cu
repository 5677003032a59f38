// Step 1: one thread per element of C, the textbook loop on the GPU.
//
// threadIdx.x runs along the rows of C. A warp is 32 consecutive x, so its 32 threads read 32
// different rows of A (lda floats apart: 32 separate memory transactions per load) and write
// 32 different rows of C. B[p][j] is the same for the whole warp (a broadcast). Correct, and
// slow: almost every load is a transaction of its own.
#include "kernels/cuda/gemm/cuda_gemm.h"

namespace flopslab::gemm::cuda {
namespace {

__global__ void naive_kernel(std::int64_t m, std::int64_t n, std::int64_t k, const float* a, std::int64_t lda,
                             const float* b, std::int64_t ldb, float* c, std::int64_t ldc) {
  const std::int64_t i = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x;  // row
  const std::int64_t j = std::int64_t(blockIdx.y) * blockDim.y + threadIdx.y;  // column
  if (i >= m || j >= n) return;
  float sum = 0.0f;
  for (std::int64_t p = 0; p < k; ++p) sum += a[i * lda + p] * b[p * ldb + j];
  c[i * ldc + j] = sum;
}

void naive(const Operands& op, const RunContext& ctx) {
  if (empty(op)) return;
  const dim3 block(32, 32), grid(blocks(op.shape.m, 32), blocks(op.shape.n, 32));
  naive_kernel<<<grid, block, 0, stream_of(ctx)>>>(op.shape.m, op.shape.n, op.shape.k, op.a, op.lda, op.b, op.ldb,
                                                   op.c, op.ldc);
  FLOPSLAB_CUDA_CHECK_LAUNCH();
}

}  // namespace

extern const GemmVariant kCudaNaive{
    .name = "cuda-naive",
    .step = 1,
    .device = Device::cuda,
    .idea = "one thread per element; a warp spans rows, so its loads of A are 32 separate transactions",
    .run = naive,
};

}  // namespace flopslab::gemm::cuda
