// Max and average pooling on the CPU, forward and backward, over NCHW planes.
#include "kernels/cpu/conv/pooling.h"

#include "kernels/cpu/multiversion.h"

#include <algorithm>
#include <cmath>
#include <limits>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace flopslab::conv {

std::string pool_problem(const PoolShape& s) {
  for (auto [v, what] : {std::pair{s.n, "batch N"}, {s.c, "channels C"}, {s.h, "height H"}, {s.w, "width W"},
                         {s.kernel_h, "kernel size"}, {s.kernel_w, "kernel size"}, {s.stride_h, "stride"},
                         {s.stride_w, "stride"}})
    if (v < 1) return std::string(what) + " must be at least 1, got " + std::to_string(v);
  if (s.pad_h < 0 || s.pad_w < 0) return "padding must be 0 or more";
  if (2 * s.pad_h > s.kernel_h || 2 * s.pad_w > s.kernel_w)
    return "padding " + std::to_string(std::max(s.pad_h, s.pad_w)) + " is more than half the kernel";
  if (s.kernel_h > s.h + 2 * s.pad_h || s.kernel_w > s.w + 2 * s.pad_w)
    return "the output would be empty: a " + std::to_string(s.kernel_h) + "x" + std::to_string(s.kernel_w) +
           " window does not fit in the padded " + std::to_string(s.h + 2 * s.pad_h) + "x" +
           std::to_string(s.w + 2 * s.pad_w) + " input";
  return "";
}

namespace {

// The clipped window of output (p, q): rows [h0, h1), columns [w0, w1).
struct Window {
  std::int64_t h0, h1, w0, w1;
};
Window window(const PoolShape& s, std::int64_t p, std::int64_t q) {
  const std::int64_t h = p * s.stride_h - s.pad_h, w = q * s.stride_w - s.pad_w;
  return {std::max<std::int64_t>(h, 0), std::min(h + s.kernel_h, s.h), std::max<std::int64_t>(w, 0),
          std::min(w + s.kernel_w, s.w)};
}

}  // namespace

namespace {
#if defined(__x86_64__)
// One plane of the 2x2 argmax pooling with AVX-512: 16 outputs per step, a row's tail under a
// mask (the CNN's rows are 14 and 7 outputs wide, too narrow for the compiler's vector loop,
// whose scalar tail branched). vpermt2ps splits each input row's 32 floats into the windows'
// left and right columns. Same rule as the scalar loop: the first NaN wins, otherwise the
// first of equal maxima (a later candidate only when strictly greater).
__attribute__((target("avx512f"))) void max_2x2_plane_argmax_avx512(const float* x, std::int64_t w, float* out,
                                                                     std::int32_t* arg, std::int64_t P, std::int64_t Q) {
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512i left = _mm512_add_epi32(lane, lane), right = _mm512_add_epi32(left, _mm512_set1_epi32(1));
  const __m512i one = _mm512_set1_epi32(1), below = _mm512_set1_epi32(std::int32_t(w));
  auto first = [](std::int64_t count) { return __mmask16(count >= 16 ? 0xFFFF : (1u << count) - 1); };
  for (std::int64_t p = 0; p < P; ++p) {
    const float* top = x + 2 * p * w;
    const float* bottom = top + w;
    for (std::int64_t q0 = 0; q0 < Q; q0 += 16) {
      const std::int64_t n = std::min<std::int64_t>(16, Q - q0);
      const __mmask16 lo = first(2 * n), hi = first(std::max<std::int64_t>(0, 2 * n - 16)), outputs = first(n);
      const __m512 t0 = _mm512_maskz_loadu_ps(lo, top + 2 * q0), t1 = _mm512_maskz_loadu_ps(hi, top + 2 * q0 + 16);
      const __m512 b0 = _mm512_maskz_loadu_ps(lo, bottom + 2 * q0), b1 = _mm512_maskz_loadu_ps(hi, bottom + 2 * q0 + 16);
      const __m512 a = _mm512_permutex2var_ps(t0, left, t1), b = _mm512_permutex2var_ps(t0, right, t1);
      const __m512 c = _mm512_permutex2var_ps(b0, left, b1), d = _mm512_permutex2var_ps(b0, right, b1);
      const __mmask16 b_wins = _mm512_cmp_ps_mask(b, a, _CMP_GT_OQ), d_wins = _mm512_cmp_ps_mask(d, c, _CMP_GT_OQ);
      const __m512 ab = _mm512_mask_blend_ps(b_wins, a, b), cd = _mm512_mask_blend_ps(d_wins, c, d);
      const __mmask16 bottom_wins = _mm512_cmp_ps_mask(cd, ab, _CMP_GT_OQ);
      __m512 best = _mm512_mask_blend_ps(bottom_wins, ab, cd);
      // The winner's offset from the window's top left: 0, 1, w or w + 1.
      const __m512i top_k = _mm512_maskz_mov_epi32(b_wins, one);
      const __m512i bottom_k = _mm512_mask_add_epi32(below, d_wins, below, one);
      __m512i k = _mm512_mask_blend_epi32(bottom_wins, top_k, bottom_k);
      const __mmask16 na = _mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q), nb = _mm512_cmp_ps_mask(b, b, _CMP_UNORD_Q),
                      nc = _mm512_cmp_ps_mask(c, c, _CMP_UNORD_Q), nd = _mm512_cmp_ps_mask(d, d, _CMP_UNORD_Q);
      if (__mmask16 nan = (na | nb | nc | nd) & outputs; nan != 0) {  // rare: the first NaN
        __m512i first_nan = _mm512_add_epi32(below, one);
        first_nan = _mm512_mask_mov_epi32(first_nan, nc, below);
        first_nan = _mm512_mask_mov_epi32(first_nan, nb, one);
        first_nan = _mm512_mask_mov_epi32(first_nan, na, _mm512_setzero_si512());
        k = _mm512_mask_mov_epi32(k, nan, first_nan);
        best = _mm512_mask_add_ps(best, nan, _mm512_add_ps(a, b), _mm512_add_ps(c, d));  // a NaN
      }
      // The window's top left is column 2 * (q0 + lane) of row 2p: `left` is 2 * lane.
      const __m512i at = _mm512_add_epi32(_mm512_set1_epi32(std::int32_t(2 * p * w + 2 * q0)), _mm512_add_epi32(left, k));
      _mm512_mask_storeu_ps(out + p * Q + q0, outputs, best);
      _mm512_mask_storeu_epi32(arg + p * Q + q0, outputs, at);
    }
  }
}
#endif
}  // namespace

// The common case, 2x2 windows at stride 2 without padding: no clipping, four candidates.
// Same rule as the general loop: the first NaN wins, otherwise the first of equal maxima.
void max_pool_2x2(const PoolShape& s, const float* x, float* y, std::int32_t* argmax, int threads) {
  const std::int64_t P = s.p(), Q = s.q();
#if defined(__x86_64__)
  if (cpu_features().can_avx512()) {
#pragma omp parallel for schedule(static) num_threads(threads)
    for (std::int64_t plane = 0; plane < s.n * s.c; ++plane)
      max_2x2_plane_argmax_avx512(x + plane * s.h * s.w, s.w, y + plane * P * Q, argmax + plane * P * Q, P, Q);
    return;
  }
#endif
#pragma omp parallel for schedule(static) num_threads(threads)
  for (std::int64_t plane = 0; plane < s.n * s.c; ++plane) {
    const float* in = x + plane * s.h * s.w;
    float* out = y + plane * P * Q;
    std::int32_t* arg = argmax + plane * P * Q;
    for (std::int64_t p = 0; p < P; ++p) {
      const float* top = in + 2 * p * s.w;
      const float* bottom = top + s.w;
      const std::int32_t row = std::int32_t(2 * p * s.w), next = std::int32_t(row + s.w);
      for (std::int64_t q = 0; q < Q; ++q) {
        const float c[4] = {top[2 * q], top[2 * q + 1], bottom[2 * q], bottom[2 * q + 1]};
        const std::int32_t at[4] = {std::int32_t(row + 2 * q), std::int32_t(row + 2 * q + 1), std::int32_t(next + 2 * q),
                                    std::int32_t(next + 2 * q + 1)};
        // Branch-free maximum (the first of equal values); a NaN, rare, is looked for only when the
        // sum says one is there (inf - inf also sums to NaN; then no NaN is found and k stands).
        int k = 0;
        for (int i = 1; i < 4; ++i) k = c[i] > c[k] ? i : k;
        if (std::isnan(c[0] + c[1] + c[2] + c[3]))
          for (int i = 0; i < 4; ++i)
            if (std::isnan(c[i])) {
              k = i;
              break;
            }
        out[p * Q + q] = c[k];
        arg[p * Q + q] = at[k];
      }
    }
  }
}

namespace {
// Evaluation's 2x2 maximum, no argmax: one plane per call, branch-free selects along each
// row pair (compiled per ISA level, so the compiler has AVX2 and AVX-512 to vectorise them). A NaN wins,
// as with the argmax (then a + b + c + d is a NaN to return).
FLOPSLAB_MULTIVERSION(void, max_2x2_plane,
                      (const float* __restrict x, std::int64_t w, float* __restrict out, std::int64_t P, std::int64_t Q),
                      (x, w, out, P, Q)) {
  for (std::int64_t p = 0; p < P; ++p) {
    const float* __restrict top = x + 2 * p * w;
    const float* __restrict bottom = top + w;
    float* __restrict row = out + p * Q;
    for (std::int64_t q = 0; q < Q; ++q) {
      const float a = top[2 * q], b = top[2 * q + 1], c = bottom[2 * q], d = bottom[2 * q + 1];
      const float ab = a > b ? a : b, cd = c > d ? c : d, m = ab > cd ? ab : cd;
      const bool nan = (a != a) | (b != b) | (c != c) | (d != d);
      row[q] = nan ? a + b + c + d : m;
    }
  }
}
}  // namespace

void max_pool_forward(const PoolShape& s, const float* x, float* y, std::int32_t* argmax, int threads) {
  const bool two_by_two =
      s.kernel_h == 2 && s.kernel_w == 2 && s.stride_h == 2 && s.stride_w == 2 && s.pad_h == 0 && s.pad_w == 0;
  if (two_by_two && argmax == nullptr) {
    const std::int64_t P = s.p(), Q = s.q();
#pragma omp parallel for schedule(static) num_threads(threads)
    for (std::int64_t plane = 0; plane < s.n * s.c; ++plane) max_2x2_plane(x + plane * s.h * s.w, s.w, y + plane * P * Q, P, Q);
    return;
  }
  if (two_by_two) return max_pool_2x2(s, x, y, argmax, threads);
  const std::int64_t P = s.p(), Q = s.q();
#pragma omp parallel for schedule(static) num_threads(threads)
  for (std::int64_t plane = 0; plane < s.n * s.c; ++plane) {
    const float* in = x + plane * s.h * s.w;
    for (std::int64_t p = 0; p < P; ++p)
      for (std::int64_t q = 0; q < Q; ++q) {
        const Window win = window(s, p, q);
        float best = -std::numeric_limits<float>::infinity();
        std::int32_t where = std::int32_t(win.h0 * s.w + win.w0);
        bool found_nan = false;  // a NaN anywhere in the window is the maximum, as in PyTorch
        for (std::int64_t h = win.h0; h < win.h1 && !found_nan; ++h)
          for (std::int64_t w = win.w0; w < win.w1; ++w) {
            const float v = in[h * s.w + w];
            if (v > best || std::isnan(v)) {
              best = v;
              where = std::int32_t(h * s.w + w);
              if ((found_nan = std::isnan(v))) break;
            }
          }
        y[(plane * P + p) * Q + q] = best;
        if (argmax != nullptr) argmax[(plane * P + p) * Q + q] = where;
      }
  }
}

void max_pool_backward(const PoolShape& s, const float* dy, const std::int32_t* argmax, float* dx, int threads) {
  const std::int64_t PQ = s.p() * s.q(), HW = s.h * s.w;
#pragma omp parallel for schedule(static) num_threads(threads)
  for (std::int64_t plane = 0; plane < s.n * s.c; ++plane) {
    float* out = dx + plane * HW;
    std::fill_n(out, HW, 0.0f);
    for (std::int64_t i = 0; i < PQ; ++i) out[argmax[plane * PQ + i]] += dy[plane * PQ + i];
  }
}

void avg_pool_forward(const PoolShape& s, const float* x, float* y, int threads) {
  const std::int64_t P = s.p(), Q = s.q();
  const float scale = 1.0f / float(s.kernel_h * s.kernel_w);
#pragma omp parallel for schedule(static) num_threads(threads)
  for (std::int64_t plane = 0; plane < s.n * s.c; ++plane) {
    const float* in = x + plane * s.h * s.w;
    for (std::int64_t p = 0; p < P; ++p)
      for (std::int64_t q = 0; q < Q; ++q) {
        const Window win = window(s, p, q);
        float sum = 0;
        for (std::int64_t h = win.h0; h < win.h1; ++h)
          for (std::int64_t w = win.w0; w < win.w1; ++w) sum += in[h * s.w + w];
        y[(plane * P + p) * Q + q] = sum * scale;
      }
  }
}

void avg_pool_backward(const PoolShape& s, const float* dy, float* dx, int threads) {
  const std::int64_t P = s.p(), Q = s.q(), HW = s.h * s.w;
  const float scale = 1.0f / float(s.kernel_h * s.kernel_w);
#pragma omp parallel for schedule(static) num_threads(threads)
  for (std::int64_t plane = 0; plane < s.n * s.c; ++plane) {
    float* out = dx + plane * HW;
    std::fill_n(out, HW, 0.0f);
    for (std::int64_t p = 0; p < P; ++p)
      for (std::int64_t q = 0; q < Q; ++q) {
        const Window win = window(s, p, q);
        const float g = dy[(plane * P + p) * Q + q] * scale;
        for (std::int64_t h = win.h0; h < win.h1; ++h)
          for (std::int64_t w = win.w0; w < win.w1; ++w) out[h * s.w + w] += g;
      }
  }
}

}  // namespace flopslab::conv
