// AVX2 + FMA micro-kernel: a 6 x 16 tile of C held in 12 YMM registers.
//
// Per step p: two loads of B (16 floats), six broadcasts of A, twelve FMAs. With two FMA
// pipes of latency 4-5 cycles, at least 8-10 independent accumulators are needed to keep
// both pipes busy; 12 accumulators + 2 B vectors + 1 broadcast use 15 of the 16 registers.
// Compiled for AVX2 through the target attribute, so the rest of the binary stays baseline
// x86-64 and this code only runs after CPUID said it may.
#include "kernels/cpu/gemm/packed.h"

#if defined(__x86_64__)
#include <immintrin.h>

namespace flopslab::gemm::packed {
namespace {

constexpr int kMr = 6, kNr = 16;

__attribute__((target("avx2,fma"))) void micro_6x16(std::int64_t kc, const float* a,
                                                     const float* b, float* c,
                                                     std::int64_t ldc, bool accumulate) {
  // Start fetching the C tile now; it is needed only after the k loop.
#pragma GCC unroll 6
  for (int r = 0; r < kMr; ++r) {
    _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc + kNr - 1), _MM_HINT_T0);
  }
  __m256 acc[kMr][2];
#pragma GCC unroll 6
  for (int r = 0; r < kMr; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();

  for (std::int64_t p = 0; p < kc; ++p) {
    const __m256 b0 = _mm256_load_ps(b);
    const __m256 b1 = _mm256_load_ps(b + 8);
#pragma GCC unroll 6
    for (int r = 0; r < kMr; ++r) {
      const __m256 a_r = _mm256_broadcast_ss(a + r);
      acc[r][0] = _mm256_fmadd_ps(a_r, b0, acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(a_r, b1, acc[r][1]);
    }
    a += kMr;
    b += kNr;
  }

#pragma GCC unroll 6
  for (int r = 0; r < kMr; ++r) {
    float* c_row = c + r * ldc;
    if (accumulate) {
      acc[r][0] = _mm256_add_ps(acc[r][0], _mm256_loadu_ps(c_row));
      acc[r][1] = _mm256_add_ps(acc[r][1], _mm256_loadu_ps(c_row + 8));
    }
    _mm256_storeu_ps(c_row, acc[r][0]);
    _mm256_storeu_ps(c_row + 8, acc[r][1]);
  }
}

}  // namespace

const MicroKernel kMicroKernelAvx2{SimdPath::avx2, kMr, kNr, micro_6x16};

}  // namespace flopslab::gemm::packed
#else
namespace flopslab::gemm::packed {
const MicroKernel kMicroKernelAvx2{SimdPath::avx2, 0, 0, nullptr};  // not x86: never selected
}
#endif
