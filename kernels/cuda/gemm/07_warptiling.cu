// Step 7: warp tiling, with the next tile loaded while this one is computed.
//
// The block tile (128 x 128) is split among 4 warps, each owning a 64 x 64 warp tile; within a
// warp each thread computes 4 sub-tiles of 8 x 4 spread 16 columns apart. Laying the threads
// out per warp keeps each warp's shared-memory reads to few distinct addresses (broadcasts) and
// its results close together, and it is the level at which tensor-core kernels work too.
// Double buffering: the float4s of the next A and B tiles are fetched from global memory into
// registers before the current tiles are used, so their latency hides behind 16 steps of FMAs.
#include "kernels/cuda/gemm/cuda_gemm.h"

namespace flopslab::gemm::cuda {
namespace {

constexpr int kThreads = 128;
constexpr int kBM = 128, kBN = 128, kBK = 16;   // block tile
constexpr int kWM = 64, kWN = 64;               // warp tile
constexpr int kWNIter = 4, kTM = 8, kTN = 4;    // a thread: kWMIter x kWNIter sub-tiles of kTM x kTN
constexpr int kWMIter = (kWM * kWN) / (32 * kTM * kTN * kWNIter);  // 1
constexpr int kWSubM = kWM / kWMIter, kWSubN = kWN / kWNIter;      // 64, 16
constexpr int kLoadsA = kBM * kBK / 4 / kThreads;  // float4s of A per thread per tile: 4
constexpr int kLoadsB = kBK * kBN / 4 / kThreads;  // 4
static_assert(kWMIter >= 1 && (kBM / kWM) * (kBN / kWN) == kThreads / 32, "one warp tile per warp");

template <bool kVector>
__device__ inline float4 load4(const float* src, std::int64_t rows, std::int64_t cols, std::int64_t ld,
                               std::int64_t r, std::int64_t c) {
  float4 v = make_float4(0, 0, 0, 0);
  if (r >= rows) return v;
  if constexpr (kVector) {  // cols is a multiple of 4: the float4 is all in or all out
    if (c < cols) v = *reinterpret_cast<const float4*>(src + r * ld + c);
  } else {
    float* e = &v.x;
    for (int i = 0; i < 4; ++i)
      if (c + i < cols) e[i] = src[r * ld + c + i];
  }
  return v;
}

template <bool kVector>
__global__ void __launch_bounds__(kThreads)
    warptiling_kernel(std::int64_t m, std::int64_t n, std::int64_t k, const float* a, std::int64_t lda,
                      const float* b, std::int64_t ldb, float* c, std::int64_t ldc) {
  __shared__ __align__(16) float a_tile[kBK * kBM];  // transposed: [q][row]
  __shared__ __align__(16) float b_tile[kBK * kBN];  // [q][col]
  const int t = threadIdx.x, warp = t / 32, lane = t % 32;
  const int warp_row = warp / (kBN / kWN), warp_col = warp % (kBN / kWN);
  const int lane_row = lane / (kWSubN / kTN), lane_col = lane % (kWSubN / kTN);
  const std::int64_t row0 = std::int64_t(blockIdx.y) * kBM, col0 = std::int64_t(blockIdx.x) * kBN;
  const int a_row = t / (kBK / 4), a_q = (t % (kBK / 4)) * 4;  // + i * 32 rows for load i
  const int b_q = t / (kBN / 4), b_col = (t % (kBN / 4)) * 4;  // + i * 4 rows for load i

  float4 a_next[kLoadsA], b_next[kLoadsB];
  auto fetch = [&](std::int64_t p0) {
#pragma unroll
    for (int i = 0; i < kLoadsA; ++i)
      a_next[i] = load4<kVector>(a, m, k, lda, row0 + a_row + i * (kThreads * 4 / kBK), p0 + a_q);
#pragma unroll
    for (int i = 0; i < kLoadsB; ++i)
      b_next[i] = load4<kVector>(b, k, n, ldb, p0 + b_q + i * (kThreads * 4 / kBN), col0 + b_col);
  };

  float acc[kWMIter * kTM][kWNIter * kTN] = {};
  float a_reg[kWMIter * kTM], b_reg[kWNIter * kTN];
  fetch(0);
  for (std::int64_t p0 = 0; p0 < k; p0 += kBK) {
#pragma unroll
    for (int i = 0; i < kLoadsA; ++i) {
      const int r = a_row + i * (kThreads * 4 / kBK);
      a_tile[(a_q + 0) * kBM + r] = a_next[i].x;
      a_tile[(a_q + 1) * kBM + r] = a_next[i].y;
      a_tile[(a_q + 2) * kBM + r] = a_next[i].z;
      a_tile[(a_q + 3) * kBM + r] = a_next[i].w;
    }
#pragma unroll
    for (int i = 0; i < kLoadsB; ++i)
      *reinterpret_cast<float4*>(&b_tile[(b_q + i * (kThreads * 4 / kBN)) * kBN + b_col]) = b_next[i];
    __syncthreads();
    if (p0 + kBK < k) fetch(p0 + kBK);  // in flight while the FMAs below run

#pragma unroll
    for (int q = 0; q < kBK; ++q) {
#pragma unroll
      for (int wm = 0; wm < kWMIter; ++wm)
#pragma unroll
        for (int i = 0; i < kTM; i += 4)
          *reinterpret_cast<float4*>(&a_reg[wm * kTM + i]) = *reinterpret_cast<const float4*>(
              &a_tile[q * kBM + warp_row * kWM + wm * kWSubM + lane_row * kTM + i]);
#pragma unroll
      for (int wn = 0; wn < kWNIter; ++wn)
        *reinterpret_cast<float4*>(&b_reg[wn * kTN]) = *reinterpret_cast<const float4*>(
            &b_tile[q * kBN + warp_col * kWN + wn * kWSubN + lane_col * kTN]);
#pragma unroll
      for (int r = 0; r < kWMIter * kTM; ++r)
#pragma unroll
        for (int s = 0; s < kWNIter * kTN; ++s) acc[r][s] += a_reg[r] * b_reg[s];
    }
    __syncthreads();  // everyone is done with the tiles before they are overwritten
  }

#pragma unroll
  for (int wm = 0; wm < kWMIter; ++wm)
#pragma unroll
    for (int wn = 0; wn < kWNIter; ++wn)
#pragma unroll
      for (int r = 0; r < kTM; ++r) {
        const std::int64_t i = row0 + warp_row * kWM + wm * kWSubM + lane_row * kTM + r;
        const std::int64_t j = col0 + warp_col * kWN + wn * kWSubN + lane_col * kTN;
        if (i >= m) continue;
        const float* v = &acc[wm * kTM + r][wn * kTN];
        if (kVector && j + kTN <= n) {
          *reinterpret_cast<float4*>(c + i * ldc + j) = make_float4(v[0], v[1], v[2], v[3]);
        } else {
#pragma unroll
          for (int s = 0; s < kTN; ++s)
            if (j + s < n) c[i * ldc + j + s] = v[s];
        }
      }
}

void warptiling(const Operands& op, const RunContext& ctx) {
  const dim3 grid(blocks(op.shape.n, kBN), blocks(op.shape.m, kBM));
  if (vector_friendly(op))
    warptiling_kernel<true><<<grid, kThreads, 0, stream_of(ctx)>>>(op.shape.m, op.shape.n, op.shape.k, op.a, op.lda,
                                                                   op.b, op.ldb, op.c, op.ldc);
  else
    warptiling_kernel<false><<<grid, kThreads, 0, stream_of(ctx)>>>(op.shape.m, op.shape.n, op.shape.k, op.a, op.lda,
                                                                    op.b, op.ldb, op.c, op.ldc);
  FLOPSLAB_CUDA_CHECK_LAUNCH();
}

}  // namespace

extern const GemmVariant kCudaWarptiling{
    .name = "cuda-warptiling",
    .step = 7,
    .device = Device::cuda,
    .idea = "warp-level 64x64 tiles, 4 sub-tiles of 8x4 per thread, next tiles prefetched into registers",
    .run = warptiling,
};

}  // namespace flopslab::gemm::cuda
