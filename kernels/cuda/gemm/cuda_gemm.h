// Shared by the CUDA GEMM ladder: index helpers and the test for 16-byte vector loads.
// The problem is the one in kernels/gemm.h: row-major C[m x n] = A[m x k] * B[k x n], with
// device pointers and leading dimensions.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cuda/cuda_check.h"
#include "kernels/registry.h"

namespace flopslab::gemm::cuda {

inline unsigned blocks(std::int64_t extent, std::int64_t tile) { return unsigned((extent + tile - 1) / tile); }
inline cudaStream_t stream_of(const RunContext& ctx) { return static_cast<cudaStream_t>(ctx.stream); }
// An empty C needs no launch (and a zero-sized grid is an invalid launch).
inline bool empty(const Operands& op) { return op.shape.m == 0 || op.shape.n == 0; }

// float4 loads of A and B rows (and stores of C rows) are legal when every row starts on a
// 16-byte boundary and rows hold whole float4s: aligned pointers, leading dimensions and the
// dimensions read in fours all multiples of 4.
inline bool vector_friendly(const Operands& op) {
  auto aligned = [](const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 16 == 0; };
  return aligned(op.a) && aligned(op.b) && aligned(op.c) && op.lda % 4 == 0 && op.ldb % 4 == 0 && op.ldc % 4 == 0 &&
         op.shape.k % 4 == 0 && op.shape.n % 4 == 0;
}

}  // namespace flopslab::gemm::cuda
