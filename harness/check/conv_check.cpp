// The float64 convolution reference per element and pass, and the sampled check against it.
#include "harness/check/conv_check.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

namespace flopslab::bench {

ConvProblem::ConvProblem(conv::Shape s, std::uint64_t seed) : shape(s) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (auto [tensor, size] : {std::pair{&x, s.x_size()}, {&w, s.w_size()}, {&y, s.y_size()}}) {
    tensor->resize(std::size_t(size));
    for (float& v : *tensor) v = dist(rng);
  }
}

conv::Operands ConvProblem::operands() { return {.shape = shape, .x = x.data(), .w = w.data(), .y = y.data()}; }

void ConvProblem::poison(conv::Pass pass) {
  auto& out = pass == conv::Pass::forward ? y : pass == conv::Pass::backward_data ? x : w;
  std::fill(out.begin(), out.end(), std::numeric_limits<float>::quiet_NaN());
}

ReferenceElement conv_reference_element(const conv::Operands& op, conv::Pass pass, std::int64_t index) {
  const conv::Shape& s = op.shape;
  const std::int64_t P = s.p(), Q = s.q(), Cg = s.c_per_group(), Kg = s.k_per_group();
  ReferenceElement e;
  auto add = [&](double a, double b) {
    e.value += a * b;
    e.magnitude += std::abs(a * b);
    ++e.terms;
  };
  if (pass == conv::Pass::forward) {  // y[n][k][p][q]
    const std::int64_t q = index % Q, p = index / Q % P, k = index / (P * Q) % s.k, n = index / (P * Q * s.k);
    for (std::int64_t c = 0; c < Cg; ++c)
      for (std::int64_t r = 0; r < s.r; ++r)
        for (std::int64_t sx = 0; sx < s.s; ++sx) {
          const std::int64_t ih = p * s.stride_h - s.pad_h + r * s.dilation_h;
          const std::int64_t iw = q * s.stride_w - s.pad_w + sx * s.dilation_w;
          if (ih < 0 || ih >= s.h || iw < 0 || iw >= s.w) continue;
          add(op.x[((n * s.c + k / Kg * Cg + c) * s.h + ih) * s.w + iw], op.w[((k * Cg + c) * s.r + r) * s.s + sx]);
        }
  } else if (pass == conv::Pass::backward_data) {  // dx[n][c][h][w]
    const std::int64_t w = index % s.w, h = index / s.w % s.h, c = index / (s.h * s.w) % s.c,
                       n = index / (s.h * s.w * s.c);
    const std::int64_t g = c / Cg;
    for (std::int64_t k = g * Kg; k < (g + 1) * Kg; ++k)
      for (std::int64_t r = 0; r < s.r; ++r)
        for (std::int64_t sx = 0; sx < s.s; ++sx) {
          const std::int64_t ph = h + s.pad_h - r * s.dilation_h, qw = w + s.pad_w - sx * s.dilation_w;
          if (ph < 0 || qw < 0 || ph % s.stride_h != 0 || qw % s.stride_w != 0) continue;
          const std::int64_t p = ph / s.stride_h, q = qw / s.stride_w;
          if (p >= P || q >= Q) continue;
          add(op.y[((n * s.k + k) * P + p) * Q + q], op.w[((k * Cg + c % Cg) * s.r + r) * s.s + sx]);
        }
  } else {  // dw[k][c][r][s]
    const std::int64_t sx = index % s.s, r = index / s.s % s.r, c = index / (s.r * s.s) % Cg,
                       k = index / (s.r * s.s * Cg);
    const std::int64_t c_global = k / Kg * Cg + c;
    for (std::int64_t n = 0; n < s.n; ++n)
      for (std::int64_t p = 0; p < P; ++p)
        for (std::int64_t q = 0; q < Q; ++q) {
          const std::int64_t ih = p * s.stride_h - s.pad_h + r * s.dilation_h;
          const std::int64_t iw = q * s.stride_w - s.pad_w + sx * s.dilation_w;
          if (ih < 0 || ih >= s.h || iw < 0 || iw >= s.w) continue;
          add(op.y[((n * s.k + k) * P + p) * Q + q], op.x[((n * s.c + c_global) * s.h + ih) * s.w + iw]);
        }
  }
  return e;
}

GemmCheck check_conv(const conv::Operands& op, conv::Pass pass, const ConvVariant& variant) {
  return check_conv(op, pass, variant.input_roundoff, std::int64_t(1) << 26, 11, variant.error_block);
}

GemmCheck check_conv(const conv::Operands& op, conv::Pass pass, double input_roundoff, std::int64_t full_check_work,
                     std::uint64_t seed, int error_block) {
  const conv::Shape& s = op.shape;
  const float* out = pass == conv::Pass::forward ? op.y : pass == conv::Pass::backward_data ? op.x : op.w;
  const std::int64_t size = pass == conv::Pass::forward ? s.y_size()
                            : pass == conv::Pass::backward_data ? s.x_size()
                                                                : s.w_size();
  const std::int64_t terms = pass == conv::Pass::forward         ? s.c_per_group() * s.r * s.s
                             : pass == conv::Pass::backward_data ? s.k_per_group() * s.r * s.s
                                                                 : s.n * s.p() * s.q();
  GemmCheck check;
  for (std::int64_t i = 0; i < size; ++i)
    if (!std::isfinite(out[i])) ++check.non_finite;
  std::vector<std::int64_t> indices;
  if (double(size) * double(terms) <= double(full_check_work)) {
    for (std::int64_t i = 0; i < size; ++i) indices.push_back(i);
  } else {
    check.sampled = true;
    for (std::int64_t i = 0; i < std::min<std::int64_t>(256, size); ++i) indices.push_back(i), indices.push_back(size - 1 - i);
    std::mt19937_64 rng(seed);
    std::uniform_int_distribution<std::int64_t> pick(0, size - 1);
    for (int i = 0; i < 4096; ++i) indices.push_back(pick(rng));
  }
  constexpr double u = 1.0 / (1 << 24);
  // An output computed in an m x m block from one input tile carries rounding from the whole
  // tile: its magnitude is the block's largest (forward only: the blocks are output tiles).
  const std::int64_t m = pass == conv::Pass::forward ? std::max(1, error_block) : 1;
  // Every element's magnitude once, where every element is compared anyway.
  std::vector<double> all_magnitudes;
  if (m > 1 && !check.sampled) {
    all_magnitudes.resize(std::size_t(size));
    for (std::int64_t i = 0; i < size; ++i) all_magnitudes[std::size_t(i)] = conv_reference_element(op, pass, i).magnitude;
  }
  auto magnitude_of = [&](std::int64_t i, const ReferenceElement& own) {
    if (m == 1) return own.magnitude;
    const std::int64_t P = s.p(), Q = s.q(), q = i % Q, p = i / Q % P, plane = i - p * Q - q;
    double largest = 0;
    for (std::int64_t bp = p / m * m; bp < std::min(P, p / m * m + m); ++bp)
      for (std::int64_t bq = q / m * m; bq < std::min(Q, q / m * m + m); ++bq)
        largest = std::max(largest, !all_magnitudes.empty() ? all_magnitudes[std::size_t(plane + bp * Q + bq)]
                                    : bp == p && bq == q    ? own.magnitude
                                                            : conv_reference_element(op, pass, plane + bp * Q + bq).magnitude);
    return largest;
  };
  for (std::int64_t i : indices) {
    const ReferenceElement ref = conv_reference_element(op, pass, i);
    const double magnitude = magnitude_of(i, ref);
    // Inputs rounded to a shorter mantissa perturb each product by up to 2 of its roundoffs,
    // and a result stored in that format adds one more.
    const double bound = (double(ref.terms + 2) * u + 2 * input_roundoff) * magnitude +
                         input_roundoff * std::abs(ref.value) + std::numeric_limits<float>::denorm_min();
    ++check.compared;
    if (!std::isfinite(out[i])) continue;
    const double ratio = std::abs(double(out[i]) - ref.value) / bound;
    if (ratio > check.worst) check.worst = ratio, check.worst_i = i;
    if (ratio > 1) ++check.over_bound;
  }
  return check;
}

}  // namespace flopslab::bench
