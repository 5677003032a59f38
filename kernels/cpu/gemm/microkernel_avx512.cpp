// AVX-512 micro-kernel: a 12 x 32 tile of C held in 24 ZMM registers.
//
// Per step p: two loads of B (32 floats), twelve broadcasts of A (folded into the FMAs as
// embedded {1to16} broadcasts), twenty-four FMAs. 24 accumulators + 2 B vectors leave room
// in the 32 registers; 24 independent chains cover two 512-bit FMA pipes of latency 4.
#include "kernels/cpu/gemm/packed.h"

#if defined(__x86_64__)
#include <immintrin.h>

#include "kernels/cpu/gemm/tile_avx512.h"

namespace flopslab::gemm::packed {
namespace {

constexpr int kMr = 12, kNr = 32;

__attribute__((target("avx512f,avx2,fma"))) void micro_12x32(std::int64_t kc, const float* a,
                                                              const float* b, float* c,
                                                              std::int64_t ldc,
                                                              bool accumulate) {
  __m512 acc[kMr][2];
  prefetch_tile_12x32(c, ldc);
#pragma GCC unroll 12
  for (int r = 0; r < kMr; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();

  for (std::int64_t p = 0; p < kc; ++p) {
    const __m512 b0 = _mm512_load_ps(b);
    const __m512 b1 = _mm512_load_ps(b + 16);
#pragma GCC unroll 12
    for (int r = 0; r < kMr; ++r) {
      const __m512 a_r = _mm512_set1_ps(a[r]);
      acc[r][0] = _mm512_fmadd_ps(a_r, b0, acc[r][0]);
      acc[r][1] = _mm512_fmadd_ps(a_r, b1, acc[r][1]);
    }
    a += kMr;
    b += kNr;
  }

  store_tile_12x32(acc, c, ldc, accumulate);
}

}  // namespace

// Packing A is a transpose (12 rows in, k-major slivers out); element by element it took
// 10-20% of a 256^3 product. Here 16 k at a time: 12 row loads (4 zero rows pad to 16), a
// 16 x 16 register transpose (unpack ps, unpack pd, two rounds of 128-bit lane shuffles),
// and 16 stores of 12 lanes.
__attribute__((target("avx512f"))) void pack_a_sliver_12_avx512(const float* a, std::int64_t lda, std::int64_t kc,
                                                                 float* dst) {
  std::int64_t p0 = 0;
  const __m512 zero = _mm512_setzero_ps();
  for (; p0 + 16 <= kc; p0 += 16) {
    __m512 r[16];
#pragma GCC unroll 12
    for (int i = 0; i < kMr; ++i) r[i] = _mm512_loadu_ps(a + i * lda + p0);
    r[12] = r[13] = r[14] = r[15] = zero;
    // lanes of 4: pairs of rows interleaved, then quads; b[4g + c] holds rows 4g..4g+3 at
    // column 4L + c in 128-bit lane L.
    __m512 b[16];
#pragma GCC unroll 4
    for (int g = 0; g < 4; ++g) {
      const __m512 lo01 = _mm512_unpacklo_ps(r[4 * g], r[4 * g + 1]), hi01 = _mm512_unpackhi_ps(r[4 * g], r[4 * g + 1]);
      const __m512 lo23 = _mm512_unpacklo_ps(r[4 * g + 2], r[4 * g + 3]),
                   hi23 = _mm512_unpackhi_ps(r[4 * g + 2], r[4 * g + 3]);
      b[4 * g + 0] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(lo01), _mm512_castps_pd(lo23)));
      b[4 * g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(lo01), _mm512_castps_pd(lo23)));
      b[4 * g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(hi01), _mm512_castps_pd(hi23)));
      b[4 * g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(hi01), _mm512_castps_pd(hi23)));
    }
    // Column 4L + c gathers lane L of b[c], b[4 + c], b[8 + c], b[12 + c].
#pragma GCC unroll 4
    for (int c = 0; c < 4; ++c) {
      const __m512 rows01_lo = _mm512_shuffle_f32x4(b[c], b[4 + c], 0x44), rows01_hi = _mm512_shuffle_f32x4(b[c], b[4 + c], 0xEE);
      const __m512 rows23_lo = _mm512_shuffle_f32x4(b[8 + c], b[12 + c], 0x44),
                   rows23_hi = _mm512_shuffle_f32x4(b[8 + c], b[12 + c], 0xEE);
      constexpr __mmask16 kTwelve = 0x0FFF;
      _mm512_mask_storeu_ps(dst + (p0 + c) * kMr, kTwelve, _mm512_shuffle_f32x4(rows01_lo, rows23_lo, 0x88));
      _mm512_mask_storeu_ps(dst + (p0 + 4 + c) * kMr, kTwelve, _mm512_shuffle_f32x4(rows01_lo, rows23_lo, 0xDD));
      _mm512_mask_storeu_ps(dst + (p0 + 8 + c) * kMr, kTwelve, _mm512_shuffle_f32x4(rows01_hi, rows23_hi, 0x88));
      _mm512_mask_storeu_ps(dst + (p0 + 12 + c) * kMr, kTwelve, _mm512_shuffle_f32x4(rows01_hi, rows23_hi, 0xDD));
    }
  }
  for (; p0 < kc; ++p0)
    for (int i = 0; i < kMr; ++i) dst[p0 * kMr + i] = a[i * lda + p0];
}

const MicroKernel kMicroKernelAvx512{SimdPath::avx512, kMr, kNr, micro_12x32};

}  // namespace flopslab::gemm::packed
#else
namespace flopslab::gemm::packed {
const MicroKernel kMicroKernelAvx512{SimdPath::avx512, 0, 0, nullptr};  // not x86: never selected
void pack_a_sliver_12_avx512(const float*, std::int64_t, std::int64_t, float*) {}
}
#endif
