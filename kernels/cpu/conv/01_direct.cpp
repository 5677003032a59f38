// Step 1: the definition, loop by loop. Every (image, filter) pair is independent, so the
// threads split those; the innermost loop runs along an output row over the pixels whose
// input lies inside the image (valid_outputs), so it has no bounds checks and vectorises when
// the stride is 1. No data is copied or rearranged: each filter tap is one pass over the
// output plane, which is simple and handles every stride, dilation and grouping, including
// depthwise convolutions, where the GEMM formulations have nothing to multiply.
#include <algorithm>

#include "kernels/cpu/conv/conv_cpu.h"
#include "kernels/registry.h"

namespace flopslab::conv::cpu {
namespace {

void direct_forward(const Operands& op, const RunContext& ctx) {
  const Shape& s = op.shape;
  const std::int64_t P = s.p(), Q = s.q(), Cg = s.c_per_group(), Kg = s.k_per_group();
#pragma omp parallel for collapse(2) schedule(static) num_threads(ctx.threads)
  for (std::int64_t n = 0; n < s.n; ++n)
    for (std::int64_t k = 0; k < s.k; ++k) {
      float* y = op.y + (n * s.k + k) * P * Q;  // P x Q
      std::fill_n(y, P * Q, 0.0f);
      const std::int64_t c0 = k / Kg * Cg;      // the group's first input channel
      for (std::int64_t c = 0; c < Cg; ++c) {
        const float* x = op.x + (n * s.c + c0 + c) * s.h * s.w;  // H x W
        const float* w = op.w + (k * Cg + c) * s.r * s.s;        // R x S
        for (std::int64_t r = 0; r < s.r; ++r) {
          const Range rows = valid_outputs(P, s.h, s.stride_h, s.pad_h, r * s.dilation_h);
          for (std::int64_t sx = 0; sx < s.s; ++sx) {
            const Range cols = valid_outputs(Q, s.w, s.stride_w, s.pad_w, sx * s.dilation_w);
            const float tap = w[r * s.s + sx];
            for (std::int64_t p = rows.begin; p < rows.end; ++p) {
              const float* x_row = x + (p * s.stride_h - s.pad_h + r * s.dilation_h) * s.w - s.pad_w + sx * s.dilation_w;
              float* y_row = y + p * Q;
              for (std::int64_t q = cols.begin; q < cols.end; ++q) y_row[q] += tap * x_row[q * s.stride_w];
            }
          }
        }
      }
    }
}

// dx[n][c] = sum over the group's filters k and taps of the dy[n][k] plane scattered back
// through the tap. Threads split (image, input channel), so no two write the same plane.
void direct_backward_data(const Operands& op, const RunContext& ctx) {
  const Shape& s = op.shape;
  const std::int64_t P = s.p(), Q = s.q(), Cg = s.c_per_group(), Kg = s.k_per_group();
#pragma omp parallel for collapse(2) schedule(static) num_threads(ctx.threads)
  for (std::int64_t n = 0; n < s.n; ++n)
    for (std::int64_t c = 0; c < s.c; ++c) {
      float* dx = op.x + (n * s.c + c) * s.h * s.w;
      std::fill_n(dx, s.h * s.w, 0.0f);
      const std::int64_t g = c / Cg, c_in_group = c % Cg;
      for (std::int64_t k = g * Kg; k < (g + 1) * Kg; ++k) {
        const float* dy = op.y + (n * s.k + k) * P * Q;
        const float* w = op.w + (k * Cg + c_in_group) * s.r * s.s;
        for (std::int64_t r = 0; r < s.r; ++r) {
          const Range rows = valid_outputs(P, s.h, s.stride_h, s.pad_h, r * s.dilation_h);
          for (std::int64_t sx = 0; sx < s.s; ++sx) {
            const Range cols = valid_outputs(Q, s.w, s.stride_w, s.pad_w, sx * s.dilation_w);
            const float tap = w[r * s.s + sx];
            for (std::int64_t p = rows.begin; p < rows.end; ++p) {
              float* dx_row = dx + (p * s.stride_h - s.pad_h + r * s.dilation_h) * s.w - s.pad_w + sx * s.dilation_w;
              const float* dy_row = dy + p * Q;
              for (std::int64_t q = cols.begin; q < cols.end; ++q) dx_row[q * s.stride_w] += tap * dy_row[q];
            }
          }
        }
      }
    }
}

// dw[k][c][r][s] = sum over images and output pixels of dy[n][k][p][q] * x at the tap.
// Threads split (filter, input channel); each sums its own R x S taps.
void direct_backward_weights(const Operands& op, const RunContext& ctx) {
  const Shape& s = op.shape;
  const std::int64_t P = s.p(), Q = s.q(), Cg = s.c_per_group(), Kg = s.k_per_group();
#pragma omp parallel for collapse(2) schedule(static) num_threads(ctx.threads)
  for (std::int64_t k = 0; k < s.k; ++k)
    for (std::int64_t c = 0; c < Cg; ++c) {
      float* dw = op.w + (k * Cg + c) * s.r * s.s;
      const std::int64_t c_global = k / Kg * Cg + c;
      for (std::int64_t r = 0; r < s.r; ++r) {
        const Range rows = valid_outputs(P, s.h, s.stride_h, s.pad_h, r * s.dilation_h);
        for (std::int64_t sx = 0; sx < s.s; ++sx) {
          const Range cols = valid_outputs(Q, s.w, s.stride_w, s.pad_w, sx * s.dilation_w);
          float sum = 0;
          for (std::int64_t n = 0; n < s.n; ++n) {
            const float* x = op.x + (n * s.c + c_global) * s.h * s.w;
            const float* dy = op.y + (n * s.k + k) * P * Q;
            for (std::int64_t p = rows.begin; p < rows.end; ++p) {
              const float* x_row = x + (p * s.stride_h - s.pad_h + r * s.dilation_h) * s.w - s.pad_w + sx * s.dilation_w;
              const float* dy_row = dy + p * Q;
              float row_sum = 0;
              for (std::int64_t q = cols.begin; q < cols.end; ++q) row_sum += dy_row[q] * x_row[q * s.stride_w];
              sum += row_sum;
            }
          }
          dw[r * s.s + sx] = sum;
        }
      }
    }
}

}  // namespace
}  // namespace flopslab::conv::cpu

namespace flopslab::conv {
extern const ConvVariant kCpuDirect{
    .name = "direct",
    .step = 1,
    .multithreaded = true,
    .idea = "the definition: for each filter tap, one pass over the output plane; threads split images x filters",
    .forward = cpu::direct_forward,
    .backward_data = cpu::direct_backward_data,
    .backward_weights = cpu::direct_backward_weights,
};
}  // namespace flopslab::conv
