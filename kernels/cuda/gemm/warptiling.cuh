// The warp-tiling SGEMM kernel of step 7 as a template over its tile shape, so the tile shape
// can be measured per GPU (bench/micro/tune_warptiling.cu) and step 7 fixed to the best.
#pragma once

#include "kernels/cuda/gemm/cuda_gemm.h"

namespace flopslab::gemm::cuda::warptiling {


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

// Split-K: blockIdx.z takes the k slice [z * slice, (z + 1) * slice) and writes its partial
// product to C + z * c_stride (a workspace the caller sums). One slice (the default) is the
// plain product.
struct SplitK {
  int splits = 1;
  std::int64_t slice = 0;     // k per slice, a multiple of 4 (float4 alignment of A's columns)
  std::int64_t c_stride = 0;  // floats between the slices' C
};

// A block of kThreads computes a kBM x kBN tile of C in steps of kBK along k; each warp owns a
// kWM x kWN warp tile, each thread kWMIter x kWNIter sub-tiles of kTM x kTN.
template <int kThreads, int kBM, int kBN, int kBK, int kWM, int kWN, int kWNIter, int kTM, int kTN, bool kVector>
__global__ void __launch_bounds__(kThreads)
    warptiling_kernel(std::int64_t m, std::int64_t n, std::int64_t k, const float* a, std::int64_t lda,
                      const float* b, std::int64_t ldb, float* c, std::int64_t ldc, std::int64_t k_slice,
                      std::int64_t c_stride) {
  {  // this block's slice of k (all of it without split-K)
    const std::int64_t p_begin = std::int64_t(blockIdx.z) * k_slice;
    k = k - p_begin < k_slice ? k - p_begin : k_slice;
    a += p_begin, b += p_begin * ldb, c += std::int64_t(blockIdx.z) * c_stride;
  }
  constexpr int kWMIter = (kWM * kWN) / (32 * kTM * kTN * kWNIter);
  constexpr int kWSubM = kWM / kWMIter, kWSubN = kWN / kWNIter;
  constexpr int kLoadsA = kBM * kBK / 4 / kThreads;  // float4s of A per thread per tile
  constexpr int kLoadsB = kBK * kBN / 4 / kThreads;
  static_assert(kWMIter >= 1 && (kBM / kWM) * (kBN / kWN) == kThreads / 32, "one warp tile per warp");
  static_assert(kWSubM == (32 / (kWSubN / kTN)) * kTM, "a warp's 32 lanes tile its sub-tile exactly");
  static_assert(kLoadsA >= 1 && kLoadsB >= 1 && kBM % (kThreads * 4 / kBK) == 0 && kBK % (kThreads * 4 / kBN) == 0,
                "the tiles split evenly into float4 loads");
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

// Launches the kernel for one tile shape, with float4 loads when the operands allow them; with
// split-K, every slice in the same launch (grid.z), so the slices fill the SMs together.
template <int kThreads, int kBM, int kBN, int kBK, int kWM, int kWN, int kWNIter, int kTM, int kTN>
void launch(const Operands& op, cudaStream_t stream, SplitK split = {}) {
  if (empty(op)) return;
  if (split.splits <= 1) split = {1, op.shape.k, 0};
  const dim3 grid(blocks(op.shape.n, kBN), blocks(op.shape.m, kBM), unsigned(split.splits));
  if (vector_friendly(op))
    warptiling_kernel<kThreads, kBM, kBN, kBK, kWM, kWN, kWNIter, kTM, kTN, true><<<grid, kThreads, 0, stream>>>(
        op.shape.m, op.shape.n, op.shape.k, op.a, op.lda, op.b, op.ldb, op.c, op.ldc, split.slice, split.c_stride);
  else
    warptiling_kernel<kThreads, kBM, kBN, kBK, kWM, kWN, kWNIter, kTM, kTN, false><<<grid, kThreads, 0, stream>>>(
        op.shape.m, op.shape.n, op.shape.k, op.a, op.lda, op.b, op.ldb, op.c, op.ldc, split.slice, split.c_stride);
  FLOPSLAB_CUDA_CHECK_LAUNCH();
}

}  // namespace flopslab::gemm::cuda::warptiling
