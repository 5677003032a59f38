// im2col, col2im and the implicit-GEMM row readers (see conv_cpu.h).
#include <algorithm>
#include <vector>

#include "kernels/cpu/conv/conv_cpu.h"
#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/transpose_avx512.h"

namespace flopslab::conv::cpu {

void im2col(const Shape& s, const float* x, float* col, int threads) {
  const std::int64_t P = s.p(), Q = s.q(), taps = s.c_per_group() * s.r * s.s;
#pragma omp parallel for schedule(static) num_threads(threads)
  for (std::int64_t tap = 0; tap < taps; ++tap) {
    const std::int64_t c = tap / (s.r * s.s), r = tap / s.s % s.r, sx = tap % s.s;
    const Range cols = valid_outputs(Q, s.w, s.stride_w, s.pad_w, sx * s.dilation_w);
    float* out = col + tap * P * Q;
    for (std::int64_t p = 0; p < P; ++p, out += Q) {
      const std::int64_t ih = p * s.stride_h - s.pad_h + r * s.dilation_h;
      if (ih < 0 || ih >= s.h) {
        std::fill_n(out, Q, 0.0f);
        continue;
      }
      const float* x_row = x + (c * s.h + ih) * s.w - s.pad_w + sx * s.dilation_w;
      std::fill(out, out + cols.begin, 0.0f);
      for (std::int64_t q = cols.begin; q < cols.end; ++q) out[q] = x_row[q * s.stride_w];
      std::fill(out + cols.end, out + Q, 0.0f);
    }
  }
}

void col2im(const Shape& s, const float* col, float* x, int threads, std::int64_t p_begin, std::int64_t p_end) {
  const std::int64_t Q = s.q();
  if (p_end < 0) p_end = s.p();
  const std::int64_t band = (p_end - p_begin) * Q;  // col's columns: output rows [p_begin, p_end)
#pragma omp parallel for schedule(static) num_threads(threads)
  for (std::int64_t c = 0; c < s.c_per_group(); ++c)  // a channel's taps write only that channel
    for (std::int64_t r = 0; r < s.r; ++r) {
      const Range valid = valid_outputs(s.p(), s.h, s.stride_h, s.pad_h, r * s.dilation_h);
      const Range rows{std::max(valid.begin, p_begin), std::min(valid.end, p_end)};
      for (std::int64_t sx = 0; sx < s.s; ++sx) {
        const Range cols = valid_outputs(Q, s.w, s.stride_w, s.pad_w, sx * s.dilation_w);
        const float* in = col + ((c * s.r + r) * s.s + sx) * band - p_begin * Q;
        for (std::int64_t p = rows.begin; p < rows.end; ++p) {
          float* x_row = x + (c * s.h + p * s.stride_h - s.pad_h + r * s.dilation_h) * s.w - s.pad_w + sx * s.dilation_w;
          for (std::int64_t q = cols.begin; q < cols.end; ++q) x_row[q * s.stride_w] += in[p * Q + q];
        }
      }
    }
}

gemm::packed::BRowReader im2col_rows(const Shape& s, const float* x) {
  // A 1x1 filter at stride 1 without padding reads each channel's plane as it lies: one copy
  // per call, where the rows below make one per output row (a library call per 28 floats).
  if (is_plain_1x1(s))
    return [plane = s.h * s.w, x](std::int64_t c, std::int64_t col0, std::int64_t cols, float* out) {
      std::copy_n(x + c * plane + col0, cols, out);
    };
  return [s, x](std::int64_t tap, std::int64_t col0, std::int64_t cols, float* out) {
    const std::int64_t Q = s.q();
    const std::int64_t c = tap / (s.r * s.s), r = tap / s.s % s.r, sx = tap % s.s;
    const Range valid = valid_outputs(Q, s.w, s.stride_w, s.pad_w, sx * s.dilation_w);
    std::int64_t p = col0 / Q, q = col0 % Q;
    for (std::int64_t j = 0; j < cols; ++p, q = 0) {  // one output row's run of pixels at a time
      const std::int64_t run = std::min(cols - j, Q - q);
      const std::int64_t ih = p * s.stride_h - s.pad_h + r * s.dilation_h;
      float* d = out + j - q;  // d[q'] is output column q' of this row
      if (ih < 0 || ih >= s.h) {
        std::fill_n(d + q, run, 0.0f);
      } else {
        const float* x_row = x + (c * s.h + ih) * s.w - s.pad_w + sx * s.dilation_w;
        const std::int64_t lo = std::clamp(valid.begin, q, q + run), hi = std::clamp(valid.end, lo, q + run);
        std::fill(d + q, d + lo, 0.0f);
        if (s.stride_w == 1)
          std::copy(x_row + lo, x_row + hi, d + lo);
        else
          for (std::int64_t qq = lo; qq < hi; ++qq) d[qq] = x_row[qq * s.stride_w];
        std::fill(d + hi, d + q + run, 0.0f);
      }
      j += run;
    }
  };
}

gemm::packed::BRowReader im2col_transposed_rows(const Shape& s, const float* x) {
  return [s, x](std::int64_t pixel, std::int64_t col0, std::int64_t cols, float* out) {
    const std::int64_t Q = s.q(), p = pixel / Q, q = pixel % Q;
    for (std::int64_t j = 0; j < cols; ++j) {
      const std::int64_t tap = col0 + j;
      const std::int64_t ih = p * s.stride_h - s.pad_h + tap / s.s % s.r * s.dilation_h;
      const std::int64_t iw = q * s.stride_w - s.pad_w + tap % s.s * s.dilation_w;
      out[j] = (ih >= 0 && ih < s.h && iw >= 0 && iw < s.w) ? x[(tap / (s.r * s.s) * s.h + ih) * s.w + iw] : 0.0f;
    }
  };
}

void transpose(const float* src, std::int64_t rows, std::int64_t cols, float* dst, int threads) {
  // Threads only where the copy is worth a parallel region: a Linear layer's batch (64 x 784)
  // is, a convolution's per-group filter is not.
  constexpr std::int64_t kParallelFrom = 1 << 15;
  if (rows * cols < kParallelFrom) threads = 1;
  if (cpu_features().can_avx512()) {  // 16 x 16 blocks through registers, one block per iteration
    const std::int64_t row_blocks = (rows + 15) / 16, col_blocks = (cols + 15) / 16;
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
    for (std::int64_t b = 0; b < row_blocks * col_blocks; ++b) {
      const std::int64_t i0 = b / col_blocks * 16, j0 = b % col_blocks * 16;
      cpu_simd::transpose_16x16_avx512(src + i0 * cols + j0, cols, int(std::min<std::int64_t>(16, rows - i0)),
                                       int(std::min<std::int64_t>(16, cols - j0)), dst + j0 * rows + i0, rows);
    }
    return;
  }
  constexpr std::int64_t kTile = 32;  // tiles keep both sides' cache lines in use
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
  for (std::int64_t i0 = 0; i0 < rows; i0 += kTile)
    for (std::int64_t j0 = 0; j0 < cols; j0 += kTile)
      for (std::int64_t i = i0; i < std::min(rows, i0 + kTile); ++i)
        for (std::int64_t j = j0; j < std::min(cols, j0 + kTile); ++j) dst[j * rows + i] = src[i * cols + j];
}

void best_gemm(const gemm::Operands& op, int threads, gemm::InputFormat inputs) {
  const gemm::packed::MicroKernel& uk = gemm::packed::micro_kernel(best_simd_path());
  gemm::packed::gemm_packed_parallel(op, uk, gemm::packed::default_blocking(uk), threads, inputs);
}

void best_gemm(gemm::Shape shape, const float* a, std::int64_t lda, const gemm::packed::BRowReader& b, float* c,
               std::int64_t ldc, int threads, gemm::InputFormat inputs) {
  const gemm::packed::MicroKernel& uk = gemm::packed::micro_kernel(best_simd_path());
  gemm::packed::gemm_packed_parallel(shape, a, lda, b, c, ldc, uk, gemm::packed::default_blocking(uk), threads, inputs);
}

void best_gemm(gemm::Shape shape, const gemm::packed::ARowReader& a, const gemm::packed::BRowReader& b, float* c,
               std::int64_t ldc, int threads, gemm::InputFormat inputs) {
  const gemm::packed::MicroKernel& uk = gemm::packed::micro_kernel(best_simd_path());
  gemm::packed::gemm_packed_parallel(shape, a, b, c, ldc, uk, gemm::packed::default_blocking(uk), threads, inputs);
}

void backward_data_im2col(const Operands& op, int threads, gemm::InputFormat inputs) {
  const Shape& s = op.shape;
  const std::int64_t Cg = s.c_per_group(), Kg = s.k_per_group(), PQ = s.p() * s.q(), taps = Cg * s.r * s.s;
  std::vector<float> w_t(std::size_t(taps * Kg)), col(std::size_t(taps * PQ));
  for (std::int64_t g = 0; g < s.groups; ++g) {
    transpose(op.w + g * Kg * taps, Kg, taps, w_t.data());  // W_g^T: taps x Kg
    for (std::int64_t n = 0; n < s.n; ++n) {
      const float* dy = op.y + (n * s.k + g * Kg) * PQ;  // Kg x PQ
      float* dx = op.x + (n * s.c + g * Cg) * s.h * s.w;
      best_gemm({.shape = {taps, PQ, Kg}, .a = w_t.data(), .lda = Kg, .b = dy, .ldb = PQ, .c = col.data(), .ldc = PQ},
                threads, inputs);
      std::fill_n(dx, Cg * s.h * s.w, 0.0f);
      col2im(s, col.data(), dx, threads);
    }
  }
}

}  // namespace flopslab::conv::cpu
