// The C tile of the float32 and bf16 AVX-512 micro-kernels (12 x 32, in 24 ZMM accumulators):
// fetched at the start, so that its lines arrive during the k loop (a 2048^3 product reads and
// writes C once per kc block, from memory: +10% once prefetched), and written at the end.
#pragma once

#if defined(__x86_64__)
#include <immintrin.h>

#include <cstdint>

namespace flopslab::gemm::packed {

__attribute__((always_inline, target("avx512f"))) inline void prefetch_tile_12x32(const float* c, std::int64_t ldc) {
#pragma GCC unroll 12
  for (int r = 0; r < 12; ++r) {
    _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc + 16), _MM_HINT_T0);
  }
}

// C = acc, or C += acc.
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
