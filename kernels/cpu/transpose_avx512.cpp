// See transpose_avx512.h. Rows are loaded under a mask (missing ones are zero), transposed in
// three rounds (interleave pairs of rows, then pairs of pairs, then 128-bit lanes), and each
// column stored under a mask of `rows` lanes.
#include "kernels/cpu/transpose_avx512.h"

#if defined(__x86_64__)
#include <immintrin.h>

namespace flopslab::cpu_simd {

__attribute__((target("avx512f"))) void transpose_16x16_avx512(const float* src, std::int64_t ld_src, int rows,
                                                                int cols, float* dst, std::int64_t ld_dst) {
  const __mmask16 col_mask = __mmask16((1u << cols) - 1), row_mask = __mmask16((1u << rows) - 1);
  __m512 r[16];
#pragma GCC unroll 16
  for (int i = 0; i < 16; ++i) r[i] = i < rows ? _mm512_maskz_loadu_ps(col_mask, src + i * ld_src) : _mm512_setzero_ps();
  // b[4g + c] holds rows 4g..4g+3 at column 4L + c in 128-bit lane L.
  __m512 b[16];
#pragma GCC unroll 4
  for (int g = 0; g < 4; ++g) {
    const __m512 lo01 = _mm512_unpacklo_ps(r[4 * g], r[4 * g + 1]), hi01 = _mm512_unpackhi_ps(r[4 * g], r[4 * g + 1]);
    const __m512 lo23 = _mm512_unpacklo_ps(r[4 * g + 2], r[4 * g + 3]), hi23 = _mm512_unpackhi_ps(r[4 * g + 2], r[4 * g + 3]);
    b[4 * g + 0] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(lo01), _mm512_castps_pd(lo23)));
    b[4 * g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(lo01), _mm512_castps_pd(lo23)));
    b[4 * g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(hi01), _mm512_castps_pd(hi23)));
    b[4 * g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(hi01), _mm512_castps_pd(hi23)));
  }
  // Column 4L + c gathers lane L of b[c], b[4 + c], b[8 + c], b[12 + c].
  __m512 column[16];
#pragma GCC unroll 4
  for (int c = 0; c < 4; ++c) {
    const __m512 rows01_lo = _mm512_shuffle_f32x4(b[c], b[4 + c], 0x44), rows01_hi = _mm512_shuffle_f32x4(b[c], b[4 + c], 0xEE);
    const __m512 rows23_lo = _mm512_shuffle_f32x4(b[8 + c], b[12 + c], 0x44),
                 rows23_hi = _mm512_shuffle_f32x4(b[8 + c], b[12 + c], 0xEE);
    column[c] = _mm512_shuffle_f32x4(rows01_lo, rows23_lo, 0x88);
    column[4 + c] = _mm512_shuffle_f32x4(rows01_lo, rows23_lo, 0xDD);
    column[8 + c] = _mm512_shuffle_f32x4(rows01_hi, rows23_hi, 0x88);
    column[12 + c] = _mm512_shuffle_f32x4(rows01_hi, rows23_hi, 0xDD);
  }
#pragma GCC unroll 16
  for (int j = 0; j < 16; ++j)
    if (j < cols) _mm512_mask_storeu_ps(dst + j * ld_dst, row_mask, column[j]);
}

}  // namespace flopslab::cpu_simd
#else
#include <stdexcept>
namespace flopslab::cpu_simd {
void transpose_16x16_avx512(const float*, std::int64_t, int, int, float*, std::int64_t) {
  throw std::logic_error("transpose_16x16_avx512: not an x86-64 build");
}
}  // namespace flopslab::cpu_simd
#endif
