// Writing a 12 x 32 tile of C held in 24 ZMM accumulators, shared by the float32 and bf16
// AVX-512 micro-kernels: C = acc, or C += acc.
#pragma once

#if defined(__x86_64__)
#include <immintrin.h>

#include <cstdint>

namespace flopslab::gemm::packed {

__attribute__((always_inline, target("avx512f"))) inline void store_tile_12x32(__m512 (&acc)[12][2], float* c,
                                                                               std::int64_t ldc, bool accumulate) {
#pragma GCC unroll 12
  for (int r = 0; r < 12; ++r) {
    float* c_row = c + r * ldc;
    if (accumulate) {
      acc[r][0] = _mm512_add_ps(acc[r][0], _mm512_loadu_ps(c_row));
      acc[r][1] = _mm512_add_ps(acc[r][1], _mm512_loadu_ps(c_row + 16));
    }
    _mm512_storeu_ps(c_row, acc[r][0]);
    _mm512_storeu_ps(c_row + 16, acc[r][1]);
  }
}

}  // namespace flopslab::gemm::packed
#endif
