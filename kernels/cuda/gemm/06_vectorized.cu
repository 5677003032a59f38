// Step 6: 16-byte loads and a transposed A tile.
//
// Step 5 moves data one float at a time. Here global loads and shared-memory reads are
// float4 (one 16-byte instruction instead of four), and the A tile is stored transposed,
// [q][row], so a thread's 8 values of A for one q are contiguous and come in two float4
// reads. When the operands are not 16-byte friendly (odd leading dimensions, k or n not a
// multiple of 4) the same kernel runs with scalar loads.
#include "kernels/cuda/gemm/cuda_gemm.h"

namespace flopslab::gemm::cuda {
namespace {

constexpr int kBM = 128, kBN = 128, kBK = 8, kTM = 8, kTN = 8;
constexpr int kThreads = (kBM / kTM) * (kBN / kTN);  // 256

template <bool kVector>
__global__ void __launch_bounds__(kThreads)
    vectorized_kernel(std::int64_t m, std::int64_t n, std::int64_t k, const float* a, std::int64_t lda,
                      const float* b, std::int64_t ldb, float* c, std::int64_t ldc) {
  __shared__ __align__(16) float a_tile[kBK * kBM];  // transposed: [q][row]
  __shared__ __align__(16) float b_tile[kBK * kBN];  // [q][col]
  const int t = threadIdx.x;
  const int thread_row = t / (kBN / kTN), thread_col = t % (kBN / kTN);
  const std::int64_t row0 = std::int64_t(blockIdx.y) * kBM, col0 = std::int64_t(blockIdx.x) * kBN;
  // One float4 of each tile per thread: A's row t/2, columns (t%2)*4..+4; B's row t/32, columns (t%32)*4..+4.
  const int a_row = t / (kBK / 4), a_q = (t % (kBK / 4)) * 4;
  const int b_q = t / (kBN / 4), b_col = (t % (kBN / 4)) * 4;

  float acc[kTM][kTN] = {};
  for (std::int64_t p0 = 0; p0 < k; p0 += kBK) {
    float4 av = make_float4(0, 0, 0, 0), bv = make_float4(0, 0, 0, 0);
    const std::int64_t ai = row0 + a_row, ap = p0 + a_q, bp = p0 + b_q, bj = col0 + b_col;
    if constexpr (kVector) {  // k and n are multiples of 4: a float4 is all in or all out
      if (ai < m && ap < k) av = *reinterpret_cast<const float4*>(a + ai * lda + ap);
      if (bp < k && bj < n) bv = *reinterpret_cast<const float4*>(b + bp * ldb + bj);
    } else {
      float* ae = &av.x;
      float* be = &bv.x;
      for (int e = 0; e < 4; ++e) {
        if (ai < m && ap + e < k) ae[e] = a[ai * lda + ap + e];
        if (bp < k && bj + e < n) be[e] = b[bp * ldb + bj + e];
      }
    }
    a_tile[(a_q + 0) * kBM + a_row] = av.x;
    a_tile[(a_q + 1) * kBM + a_row] = av.y;
    a_tile[(a_q + 2) * kBM + a_row] = av.z;
    a_tile[(a_q + 3) * kBM + a_row] = av.w;
    *reinterpret_cast<float4*>(&b_tile[b_q * kBN + b_col]) = bv;
    __syncthreads();
#pragma unroll
    for (int q = 0; q < kBK; ++q) {
      float a_reg[kTM], b_reg[kTN];
      *reinterpret_cast<float4*>(&a_reg[0]) = *reinterpret_cast<const float4*>(&a_tile[q * kBM + thread_row * kTM]);
      *reinterpret_cast<float4*>(&a_reg[4]) = *reinterpret_cast<const float4*>(&a_tile[q * kBM + thread_row * kTM + 4]);
      *reinterpret_cast<float4*>(&b_reg[0]) = *reinterpret_cast<const float4*>(&b_tile[q * kBN + thread_col * kTN]);
      *reinterpret_cast<float4*>(&b_reg[4]) = *reinterpret_cast<const float4*>(&b_tile[q * kBN + thread_col * kTN + 4]);
#pragma unroll
      for (int r = 0; r < kTM; ++r)
#pragma unroll
        for (int s = 0; s < kTN; ++s) acc[r][s] += a_reg[r] * b_reg[s];
    }
    __syncthreads();
  }
#pragma unroll
  for (int r = 0; r < kTM; ++r) {
    const std::int64_t i = row0 + thread_row * kTM + r, j = col0 + thread_col * kTN;
    if (i >= m) continue;
    if (kVector && j + kTN <= n) {
      *reinterpret_cast<float4*>(c + i * ldc + j) = make_float4(acc[r][0], acc[r][1], acc[r][2], acc[r][3]);
      *reinterpret_cast<float4*>(c + i * ldc + j + 4) = make_float4(acc[r][4], acc[r][5], acc[r][6], acc[r][7]);
    } else {
#pragma unroll
      for (int s = 0; s < kTN; ++s)
        if (j + s < n) c[i * ldc + j + s] = acc[r][s];
    }
  }
}

void vectorized(const Operands& op, const RunContext& ctx) {
  if (empty(op)) return;
  const dim3 grid(blocks(op.shape.n, kBN), blocks(op.shape.m, kBM));
  if (vector_friendly(op))
    vectorized_kernel<true><<<grid, kThreads, 0, stream_of(ctx)>>>(op.shape.m, op.shape.n, op.shape.k, op.a, op.lda,
                                                                   op.b, op.ldb, op.c, op.ldc);
  else
    vectorized_kernel<false><<<grid, kThreads, 0, stream_of(ctx)>>>(op.shape.m, op.shape.n, op.shape.k, op.a, op.lda,
                                                                    op.b, op.ldb, op.c, op.ldc);
  FLOPSLAB_CUDA_CHECK_LAUNCH();
}

}  // namespace

extern const GemmVariant kCudaVectorized{
    .name = "cuda-vectorized",
    .step = 6,
    .device = Device::cuda,
    .idea = "float4 global and shared loads, A tile transposed so a thread's column of A is contiguous",
    .run = vectorized,
};

}  // namespace flopslab::gemm::cuda
