// Packed bfloat16 copies of a GEMM's float32 operands, shared by step 9 and its cuBLASLt peer
// so that the two differ only in the multiply. The copies are workspaces (kernels/cuda/workspace.h):
// kept between calls, grown when needed, never freed.
#pragma once

#include <cuda_bf16.h>

#include <algorithm>

#include "kernels/cuda/gemm/cuda_gemm.h"
#include "kernels/cuda/workspace.h"

namespace flopslab::gemm::cuda {

// dst[r][c] = bf16(src[r * ld + c]) for a rows x cols matrix, packed (ld = cols).
__global__ inline void to_bf16(const float* __restrict src, std::int64_t ld, std::int64_t rows, std::int64_t cols,
                               __nv_bfloat16* __restrict dst) {
  for (std::int64_t e = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; e < rows * cols;
       e += std::int64_t(gridDim.x) * blockDim.x)
    dst[e] = __float2bfloat16(src[e / cols * ld + e % cols]);
}

struct Bf16Operands {
  __nv_bfloat16 *a, *b;  // m x k and k x n, packed
};

// A and B of `op` converted on `stream` (two launches).
inline Bf16Operands pack_bf16(const Operands& op, cudaStream_t stream) {
  static flopslab::cuda::Workspace copies[2] = {flopslab::cuda::Workspace("the bf16 copy of A"),
                                                 flopslab::cuda::Workspace("the bf16 copy of B")};
  const auto [m, n, k] = op.shape;
  const std::int64_t need[2] = {m * k, k * n};
  __nv_bfloat16* buffer[2];
  for (int i = 0; i < 2; ++i)
    buffer[i] = static_cast<__nv_bfloat16*>(copies[i].reserve(std::size_t(need[i]) * sizeof(__nv_bfloat16)));
  const auto grid = [](std::int64_t e) { return unsigned(std::min<std::int64_t>((e + 255) / 256, 4096)); };
  to_bf16<<<grid(m * k), 256, 0, stream>>>(op.a, op.lda, m, k, buffer[0]);
  FLOPSLAB_CUDA_CHECK_LAUNCH();
  to_bf16<<<grid(k * n), 256, 0, stream>>>(op.b, op.ldb, k, n, buffer[1]);
  FLOPSLAB_CUDA_CHECK_LAUNCH();
  return {buffer[0], buffer[1]};
}

// The start both bf16 GEMMs share: nothing to do for an empty C, zeros for an empty sum
// (k = 0), else the packed copies. False when there is nothing left to multiply.
inline bool start_bf16(const Operands& op, cudaStream_t stream, Bf16Operands& packed) {
  if (empty(op)) return false;
  if (op.shape.k == 0) {
    FLOPSLAB_CUDA_CHECK(
        cudaMemset2DAsync(op.c, op.ldc * sizeof(float), 0, op.shape.n * sizeof(float), op.shape.m, stream));
    return false;
  }
  packed = pack_bf16(op, stream);
  return true;
}

}  // namespace flopslab::gemm::cuda
