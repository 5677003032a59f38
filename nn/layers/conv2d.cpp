// Conv2d through the CPU convolution kernels: every pass by the technique the ladder's
// per-shape rung chooses (kernels/cpu/conv/08_per_shape.cpp), the forward with the bias in its
// epilogue, so `flopslab conv --impl per-shape` measures what training runs.
#include <algorithm>

#include "kernels/cpu/conv/fused.h"
#include "kernels/registry.h"
#include "nn/layers/common.h"
#include "nn/device.h"

namespace flopslab::nn {
using namespace detail;

Conv2d::Conv2d(const conv::Shape& layer, std::mt19937_64& rng)
    : weight{"weight", Tensor({layer.k, layer.c_per_group(), layer.r, layer.s}),
             Tensor({layer.k, layer.c_per_group(), layer.r, layer.s})},
      bias{"bias", Tensor({layer.k}), Tensor({layer.k})},
      shape_(layer) {
  default_init(weight, bias, layer.c_per_group() * layer.r * layer.s, rng);
}

std::string Conv2d::describe() const {
  const conv::Shape& s = shape_;
  std::string out = "Conv2d(" + std::to_string(s.c) + " -> " + std::to_string(s.k) + ", " + std::to_string(s.r) + "x" +
                    std::to_string(s.s);
  if (s.stride_h != 1 || s.stride_w != 1) out += ", stride " + std::to_string(s.stride_h);
  if (s.pad_h != 0 || s.pad_w != 0) out += ", pad " + std::to_string(s.pad_h) + "," + std::to_string(s.pad_w);
  if (s.dilation_h != 1) out += ", dilation " + std::to_string(s.dilation_h);
  if (s.groups != 1) out += ", groups " + std::to_string(s.groups);
  return out + ")";
}

Tensor Conv2d::forward(const Tensor& x, const Context& ctx) {
  if (x.on_cuda()) return forward_cuda(x, ctx);
  require_rank(x, 4, "Conv2d");
  conv::Shape s = shape_;
  s.n = x.dim(0), s.h = x.dim(2), s.w = x.dim(3);
  if (x.dim(1) != s.c) throw std::invalid_argument(describe() + ": input has " + std::to_string(x.dim(1)) + " channels");
  if (const std::string problem = conv::shape_problem(s); !problem.empty())
    throw std::invalid_argument(describe() + " on " + x.shape_string() + ": " + problem);
  shape_ = s;
  x_.save(x, ctx.precision, ctx.threads);
  Tensor y = Tensor::uninitialized({s.n, s.k, s.p(), s.q()});  // every output is written
  const std::int64_t plane = s.p() * s.q();
  if (ctx.precision == Precision::fp32) {
    // The technique chosen per shape (kernels/cpu/conv/fused.h), the bias in its epilogue.
    conv::cpu::fused_forward({.shape = s, .weight = weight.value.data(), .shift = bias.value.data(),
                              .outputs = {{s.k, y.data(), s.k * plane}}},
                             x.data(), ctx.threads);
    return y;
  }
  // 16-bit operands: step 5's GEMMs round them (mixed precision), then the bias.
  static const ConvVariant& batched = *find_conv_variant("batched");
  batched.forward({s, const_cast<float*>(x.data()), weight.value.data(), y.data()},
                  {.threads = ctx.threads, .inputs = ctx.precision});
  for (std::int64_t i = 0; i < s.n * s.k; ++i) {
    const float b = bias.value[i % s.k];
    float* row = y.data() + i * plane;
    for (std::int64_t j = 0; j < plane; ++j) row[j] += b;
  }
  round_to_precision(y, ctx.precision, ctx.threads);
  return y;
}

Tensor Conv2d::backward(const Tensor& dy, const Context& ctx) {
  if (dy.on_cuda()) return backward_cuda(dy, ctx);
  const conv::Shape& s = shape_;
  // The ladder's per-shape rung (kernels/cpu/conv/08_per_shape.cpp), which splits the batch
  // itself and sums over images without atomics.
  static const ConvVariant& per_shape = *find_conv_variant("per-shape");
  float* dy_data = const_cast<float*>(dy.data());  // the backward passes only read y (dy)
  const std::int64_t x_image = s.c * s.h * s.w, y_image = s.k * s.p() * s.q();
  const RunContext run{.threads = ctx.threads, .inputs = ctx.precision};
  if (!weight.frozen) {
    if (!x_.is_16bit()) {
      per_shape.backward_weights({s, const_cast<float*>(x_.floats()), weight.grad.data(), dy_data}, run);
    } else {
      // From the 16-bit copy, one image at a time: no float32 copy of the whole input.
      conv::Shape one_image = s;
      one_image.n = 1;
      std::vector<float> image(static_cast<std::size_t>(x_image));
      Tensor one = Tensor::uninitialized(weight.grad.shape());
      for (std::int64_t i = 0; i < s.n; ++i) {
        x_.read(i * x_image, x_image, image.data());
        float* out = i == 0 ? weight.grad.data() : one.data();
        per_shape.backward_weights({one_image, image.data(), out, dy_data + i * y_image}, run);
        if (i > 0)
          for (std::int64_t e = 0; e < weight.grad.size(); ++e) weight.grad[e] += one[e];
      }
    }
  }
  if (!bias.frozen) {
    // db[k] = sum of dY[n][k][.][.]: per plane in 16 float lanes (they vectorise), the lanes and
    // planes added in double; threads over filters, so the order is fixed.
    const std::int64_t plane = s.p() * s.q();
#pragma omp parallel for num_threads(ctx.threads) schedule(static)
    for (std::int64_t k = 0; k < s.k; ++k) {
      double sum = 0;
      for (std::int64_t n = 0; n < s.n; ++n) {
        const float* row = dy.data() + (n * s.k + k) * plane;
        float lanes[16] = {};
        std::int64_t j = 0;
        for (; j + 16 <= plane; j += 16)
          for (int l = 0; l < 16; ++l) lanes[l] += row[j + l];
        for (; j < plane; ++j) lanes[0] += row[j];
        for (float l : lanes) sum += double(l);
      }
      bias.grad[k] = float(sum);
    }
  }
  if (!ctx.input_gradient) return {};
  Tensor dx = Tensor::uninitialized(std::vector<std::int64_t>{s.n, s.c, s.h, s.w});  // backward_data writes every element
  per_shape.backward_data({s, dx.data(), weight.value.data(), dy_data}, run);
  round_to_precision(dx, ctx.precision, ctx.threads);
  return dx;
}

void Conv2d::collect_parameters(const std::string& prefix, std::vector<Parameter*>& out) {
  name_parameters(prefix, weight, bias, out);
}

#ifndef FLOPSLAB_HAVE_CUDA  // the CPU-only build's stand-in of the GPU half (nn/device.h's no_cuda)
Tensor Conv2d::forward_cuda(const Tensor&, const Context&) { no_cuda(describe()); }
Tensor Conv2d::backward_cuda(const Tensor&, const Context&) { no_cuda(describe()); }
#endif

// Each pass does the direct definition's useful multiply-adds (taps in the padding left out, as
// the roofline counts convolutions): forward reads x, W and b and writes y; the weight gradient
// reads x and dy and writes dW and db; the data gradient reads dy and W and writes dx.
LayerCost Conv2d::cost(const std::vector<std::int64_t>& input, const std::vector<std::int64_t>&,
                       bool input_gradient) const {
  if (input.size() != 4) return {};
  conv::Shape s = shape_;
  s.n = input[0], s.h = input[2], s.w = input[3];
  const double flops = conv::useful_flop_count(s), x = double(s.x_size()), w = double(s.w_size()),
               y = double(s.y_size()), b = double(s.k);
  return {.counted = true,
          .forward_flops = flops,
          .forward_bytes = 4 * (x + w + b + y),
          .backward_flops = input_gradient ? 2 * flops : flops,
          .backward_bytes = 4 * (x + y + w + b) + (input_gradient ? 4 * (y + w + x) : 0)};
}

}  // namespace flopslab::nn
