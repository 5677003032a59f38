// Step 4: each thread computes a column of 8 results (1D register blocking).
//
// Step 3 does one multiply-add per two shared-memory loads. Here a block computes a 64 x 64
// tile with 512 threads, each owning 8 consecutive rows of one column: one value of B, read
// from shared memory once, feeds 8 multiply-adds whose A values the warp shares (a broadcast),
// and the 8 partial sums live in registers.
#include "kernels/cuda/gemm/cuda_gemm.h"

namespace flopslab::gemm::cuda {
namespace {

constexpr int kBM = 64, kBN = 64, kBK = 8, kTM = 8;
constexpr int kThreads = kBM * kBN / kTM;  // 512

__global__ void __launch_bounds__(kThreads)
    blocktile_1d_kernel(std::int64_t m, std::int64_t n, std::int64_t k, const float* a, std::int64_t lda,
                        const float* b, std::int64_t ldb, float* c, std::int64_t ldc) {
  __shared__ float a_tile[kBM * kBK];  // [row][q]
  __shared__ float b_tile[kBK * kBN];  // [q][col]
  const int t = threadIdx.x;
  const int col = t % kBN, row_group = t / kBN;  // this thread: rows row_group*8 .. +8 of column col
  const std::int64_t row0 = std::int64_t(blockIdx.y) * kBM, col0 = std::int64_t(blockIdx.x) * kBN;
  const int a_row = t / kBK, a_col = t % kBK;  // each thread loads one element of each tile
  const int b_row = t / kBN, b_col = t % kBN;

  float acc[kTM] = {};
  for (std::int64_t p0 = 0; p0 < k; p0 += kBK) {
    a_tile[a_row * kBK + a_col] =
        (row0 + a_row < m && p0 + a_col < k) ? a[(row0 + a_row) * lda + p0 + a_col] : 0.0f;
    b_tile[b_row * kBN + b_col] =
        (p0 + b_row < k && col0 + b_col < n) ? b[(p0 + b_row) * ldb + col0 + b_col] : 0.0f;
    __syncthreads();
#pragma unroll
    for (int q = 0; q < kBK; ++q) {
      const float b_value = b_tile[q * kBN + col];
#pragma unroll
      for (int r = 0; r < kTM; ++r) acc[r] += a_tile[(row_group * kTM + r) * kBK + q] * b_value;
    }
    __syncthreads();
  }
#pragma unroll
  for (int r = 0; r < kTM; ++r) {
    const std::int64_t i = row0 + row_group * kTM + r, j = col0 + col;
    if (i < m && j < n) c[i * ldc + j] = acc[r];
  }
}

void blocktile_1d(const Operands& op, const RunContext& ctx) {
  if (empty(op)) return;
  const dim3 grid(blocks(op.shape.n, kBN), blocks(op.shape.m, kBM));
  blocktile_1d_kernel<<<grid, kThreads, 0, stream_of(ctx)>>>(op.shape.m, op.shape.n, op.shape.k, op.a, op.lda, op.b,
                                                              op.ldb, op.c, op.ldc);
  FLOPSLAB_CUDA_CHECK_LAUNCH();
}

}  // namespace

extern const GemmVariant kCudaBlocktile1d{
    .name = "cuda-blocktile-1d",
    .step = 4,
    .device = Device::cuda,
    .idea = "each thread keeps 8 results of a column in registers: one shared load of B feeds 8 FMAs",
    .run = blocktile_1d,
};

}  // namespace flopslab::gemm::cuda
