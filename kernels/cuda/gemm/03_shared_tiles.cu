// Step 3: tiles in shared memory.
//
// A 32 x 32 block of threads computes a 32 x 32 tile of C. Instead of each thread reading its
// own row of A and column of B from global memory (every value read 32 times by the block),
// the block loads a 32 x 32 tile of A and of B into shared memory once per step of 32 along k,
// and every thread then reads the tiles from there: global traffic drops 32-fold.
#include "kernels/cuda/gemm/cuda_gemm.h"

namespace flopslab::gemm::cuda {
namespace {

constexpr int kTile = 32;

__global__ void shared_tiles_kernel(std::int64_t m, std::int64_t n, std::int64_t k, const float* a, std::int64_t lda,
                                    const float* b, std::int64_t ldb, float* c, std::int64_t ldc) {
  __shared__ float a_tile[kTile][kTile];
  __shared__ float b_tile[kTile][kTile];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const std::int64_t i = std::int64_t(blockIdx.y) * kTile + ty;  // row of C
  const std::int64_t j = std::int64_t(blockIdx.x) * kTile + tx;  // column of C
  float sum = 0.0f;
  for (std::int64_t p0 = 0; p0 < k; p0 += kTile) {
    // Coalesced loads (tx runs along rows of A and B); zeros outside the matrices.
    a_tile[ty][tx] = (i < m && p0 + tx < k) ? a[i * lda + p0 + tx] : 0.0f;
    b_tile[ty][tx] = (p0 + ty < k && j < n) ? b[(p0 + ty) * ldb + j] : 0.0f;
    __syncthreads();
#pragma unroll
    for (int q = 0; q < kTile; ++q) sum += a_tile[ty][q] * b_tile[q][tx];
    __syncthreads();  // before the next tiles overwrite these
  }
  if (i < m && j < n) c[i * ldc + j] = sum;
}

void shared_tiles(const Operands& op, const RunContext& ctx) {
  if (empty(op)) return;
  const dim3 block(kTile, kTile), grid(blocks(op.shape.n, kTile), blocks(op.shape.m, kTile));
  shared_tiles_kernel<<<grid, block, 0, stream_of(ctx)>>>(op.shape.m, op.shape.n, op.shape.k, op.a, op.lda, op.b,
                                                          op.ldb, op.c, op.ldc);
  FLOPSLAB_CUDA_CHECK_LAUNCH();
}

}  // namespace

extern const GemmVariant kCudaSharedTiles{
    .name = "cuda-shared-tiles",
    .step = 3,
    .device = Device::cuda,
    .idea = "32x32 tiles of A and B staged in shared memory: each global value read once per block",
    .run = shared_tiles,
};

}  // namespace flopslab::gemm::cuda
