// Conv2d through the CPU convolution kernels: implicit GEMM for the forward and the input
// gradient, im2col + GEMM for the weight gradient.
#include <algorithm>

#include "kernels/registry.h"
#include "nn/layers/common.h"

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

namespace {
// The kernel's own threading splits one image's GEMM, which for the small planes of a
// training batch costs more in synchronisation than it gains. Here each thread takes whole
// images and runs the kernel single-threaded on them: forward and backward_data write
// disjoint images; backward_weights sums per-thread partial gradients in a fixed order, so
// the result does not depend on timing.
template <class Run>
void over_image_chunks(std::int64_t images, int threads, const Run& run) {
  const int chunks = int(std::min<std::int64_t>(threads, images));
#pragma omp parallel for num_threads(chunks) schedule(static)
  for (int t = 0; t < chunks; ++t) run(t, images * t / chunks, images * (t + 1) / chunks);
}
}  // namespace

Tensor Conv2d::forward(const Tensor& x, const Context& ctx) {
  require_rank(x, 4, "Conv2d");
  conv::Shape s = shape_;
  s.n = x.dim(0), s.h = x.dim(2), s.w = x.dim(3);
  if (x.dim(1) != s.c) throw std::invalid_argument(describe() + ": input has " + std::to_string(x.dim(1)) + " channels");
  if (const std::string problem = conv::shape_problem(s); !problem.empty())
    throw std::invalid_argument(describe() + " on " + x.shape_string() + ": " + problem);
  shape_ = s;
  x_.save(x, ctx.precision, ctx.threads);
  Tensor y = Tensor::uninitialized({s.n, s.k, s.p(), s.q()});  // the GEMM overwrites every output
  static const ConvVariant& kernel = *find_conv_variant("implicit-gemm");
  over_image_chunks(s.n, ctx.threads, [&](int, std::int64_t begin, std::int64_t end) {
    conv::Shape part = s;
    part.n = end - begin;
    kernel.forward({part, const_cast<float*>(x.data()) + begin * s.c * s.h * s.w, weight.value.data(),
                    y.data() + begin * s.k * s.p() * s.q()},
                   {.threads = 1, .inputs = ctx.precision});
  });
  const std::int64_t plane = s.p() * s.q();
  for (std::int64_t i = 0; i < s.n * s.k; ++i) {
    const float b = bias.value[i % s.k];
    float* row = y.data() + i * plane;
    for (std::int64_t j = 0; j < plane; ++j) row[j] += b;
  }
  round_to_precision(y, ctx.precision, ctx.threads);
  return y;
}

Tensor Conv2d::backward(const Tensor& dy, const Context& ctx) {
  const conv::Shape& s = shape_;
  static const ConvVariant& kernel = *find_conv_variant("implicit-gemm");
  static const ConvVariant& weights_kernel = *find_conv_variant("im2col-gemm");
  float* dy_data = const_cast<float*>(dy.data());  // the backward passes only read y (dy)
  const std::int64_t x_image = s.c * s.h * s.w, y_image = s.k * s.p() * s.q();
  const RunContext one_thread{.threads = 1, .inputs = ctx.precision};
  if (!weight.frozen) {
    const int chunks = int(std::min<std::int64_t>(ctx.threads, s.n));
    std::vector<Tensor> partial(static_cast<std::size_t>(chunks));
    over_image_chunks(s.n, ctx.threads, [&](int t, std::int64_t begin, std::int64_t end) {
      conv::Shape part = s;
      Tensor& dw = t == 0 ? weight.grad : partial[std::size_t(t)];
      if (t > 0) dw = Tensor::uninitialized(weight.grad.shape());  // the pass overwrites it
      if (!x_.is_16bit()) {
        part.n = end - begin;
        weights_kernel.backward_weights(
            {part, const_cast<float*>(x_.floats()) + begin * x_image, dw.data(), dy_data + begin * y_image}, one_thread);
        return;
      }
      // From the 16-bit copy, one image at a time: no float32 copy of the whole input.
      part.n = 1;
      std::vector<float> image(static_cast<std::size_t>(x_image));
      Tensor one = Tensor::uninitialized(weight.grad.shape());
      for (std::int64_t i = begin; i < end; ++i) {
        x_.read(i * x_image, x_image, image.data());
        float* out = i == begin ? dw.data() : one.data();
        weights_kernel.backward_weights({part, image.data(), out, dy_data + i * y_image}, one_thread);
        if (i > begin)
          for (std::int64_t e = 0; e < dw.size(); ++e) dw[e] += one[e];
      }
    });
    for (int t = 1; t < chunks; ++t)
      for (std::int64_t i = 0; i < weight.grad.size(); ++i) weight.grad[i] += partial[std::size_t(t)][i];
  }
  if (!bias.frozen) {
    const std::int64_t plane = s.p() * s.q();
    bias.grad.fill(0);
    for (std::int64_t i = 0; i < s.n * s.k; ++i) {
      double sum = 0;
      for (std::int64_t j = 0; j < plane; ++j) sum += dy[i * plane + j];
      bias.grad[i % s.k] += float(sum);
    }
  }
  if (!ctx.input_gradient) return {};
  Tensor dx = Tensor::uninitialized(std::vector<std::int64_t>{s.n, s.c, s.h, s.w});  // backward_data writes every element
  over_image_chunks(s.n, ctx.threads, [&](int, std::int64_t begin, std::int64_t end) {
    conv::Shape part = s;
    part.n = end - begin;
    kernel.backward_data({part, dx.data() + begin * x_image, weight.value.data(), dy_data + begin * y_image}, one_thread);
  });
  round_to_precision(dx, ctx.precision, ctx.threads);
  return dx;
}

void Conv2d::collect_parameters(const std::string& prefix, std::vector<Parameter*>& out) {
  name_parameters(prefix, weight, bias, out);
}

}  // namespace flopslab::nn
