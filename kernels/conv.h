// The convolution problem every variant solves, on any device (NCHW, single precision):
//
//   y[n][k][p][q] = sum over c in k's group, r < R, s < S of
//                   x[n][c][p*stride_h - pad_h + r*dilation_h][q*stride_w - pad_w + s*dilation_w]
//                   * w[k][c - group start][r][s]
//
// (cross-correlation, as every deep-learning framework computes it; reads outside the image
// count as zero). x is N x C x H x W, w is K x C/groups x R x S, y is N x K x P x Q. The
// channels fall into `groups` independent slices: group g maps input channels
// [g*C/groups, (g+1)*C/groups) to output channels [g*K/groups, (g+1)*K/groups). groups = C = K
// is a depthwise convolution.
//
// The three passes a training step needs share one set of operands:
//   forward           reads x, w   writes y
//   backward_data     reads y, w   writes x    (y holds dL/dy, x receives dL/dx)
//   backward_weights  reads x, y   writes w    (y holds dL/dy, w receives dL/dw)
#pragma once

#include <cstdint>
#include <string>

namespace flopslab::conv {

struct Shape {
  std::int64_t n = 1, c = 1, h = 1, w = 1;  // input: batch, channels, height, width
  std::int64_t k = 1, r = 1, s = 1;         // k filters of r x s (height x width)
  std::int64_t stride_h = 1, stride_w = 1;
  std::int64_t pad_h = 0, pad_w = 0;            // zeros added on each side
  std::int64_t dilation_h = 1, dilation_w = 1;  // distance between filter taps (1: adjacent)
  std::int64_t groups = 1;

  std::int64_t c_per_group() const { return c / groups; }
  std::int64_t k_per_group() const { return k / groups; }
  // The span a dilated filter covers: r + (r-1)(d-1), the receptive field of one layer.
  std::int64_t extent_h() const { return dilation_h * (r - 1) + 1; }
  std::int64_t extent_w() const { return dilation_w * (s - 1) + 1; }
  std::int64_t p() const { return (h + 2 * pad_h - extent_h()) / stride_h + 1; }  // output height
  std::int64_t q() const { return (w + 2 * pad_w - extent_w()) / stride_w + 1; }  // output width

  std::int64_t x_size() const { return n * c * h * w; }
  std::int64_t w_size() const { return k * c_per_group() * r * s; }
  std::int64_t y_size() const { return n * k * p() * q(); }
};

// Empty when the shape is a valid convolution; otherwise one sentence naming the offending
// value ("groups 3 does not divide the 64 input channels").
std::string shape_problem(const Shape& shape);

// "8x64x56x56, 64 filters 3x3, stride 1, pad 1" (dilation and groups only when not 1).
std::string describe(const Shape& shape);

// Multiply-adds of the direct definition, times two: 2 * N*K*P*Q * (C/groups)*R*S. Winograd
// and FFT algorithms do fewer multiplies, so "GFLOP/s" of those is an effective rate.
inline double flop_count(const Shape& s) {
  return 2.0 * double(s.n) * double(s.k) * double(s.p()) * double(s.q()) * double(s.c_per_group()) *
         double(s.r) * double(s.s);
}
// Only the multiply-adds whose tap lands inside the image, times two: the work left when the
// zeros of the padding are skipped, as oneDNN does (a 7x7 filter with pad 3 on 28x28 has 12% of
// its taps in the padding). The roofline counts these, so no kernel can pass its roof by
// skipping them.
inline double useful_flop_count(const Shape& s) {
  auto valid_taps = [](std::int64_t out, std::int64_t in, std::int64_t taps, std::int64_t stride, std::int64_t pad,
                       std::int64_t dilation) {
    double sum = 0;  // over output positions, the taps that fall inside [0, in)
    for (std::int64_t o = 0; o < out; ++o)
      for (std::int64_t t = 0; t < taps; ++t) {
        const std::int64_t i = o * stride - pad + t * dilation;
        sum += (i >= 0 && i < in) ? 1 : 0;
      }
    return sum;
  };
  return 2.0 * double(s.n) * double(s.k) * double(s.c_per_group()) *
         valid_taps(s.p(), s.h, s.r, s.stride_h, s.pad_h, s.dilation_h) *
         valid_taps(s.q(), s.w, s.s, s.stride_w, s.pad_w, s.dilation_w);
}
// Reading x and w once and writing y once: the least traffic of a forward pass.
inline double compulsory_bytes(const Shape& s) {
  return 4.0 * (double(s.x_size()) + double(s.w_size()) + double(s.y_size()));
}

enum class Pass { forward, backward_data, backward_weights };
inline const char* pass_name(Pass pass) {
  return pass == Pass::forward ? "forward" : pass == Pass::backward_data ? "backward-data" : "backward-weights";
}

struct Operands {
  Shape shape;
  float* x = nullptr;  // N x C x H x W
  float* w = nullptr;  // K x C/groups x R x S
  float* y = nullptr;  // N x K x P x Q
};

}  // namespace flopslab::conv
