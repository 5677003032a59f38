// Elementwise activations. Each backward needs one tensor: the output for sigmoid and tanh
// (their derivatives are functions of it), the input for the rest.
#include <algorithm>

#include "nn/layers/common.h"

namespace flopslab::nn {
using namespace detail;

const char* activation_name(ActivationKind k) {
  switch (k) {
    case ActivationKind::relu: return "ReLU";
    case ActivationKind::leaky_relu: return "LeakyReLU";
    case ActivationKind::relu6: return "ReLU6";
    case ActivationKind::sigmoid: return "Sigmoid";
    case ActivationKind::tanh: return "Tanh";
    case ActivationKind::softplus: return "Softplus";
  }
  return "?";
}

std::string Activation::describe() const { return activation_name(kind_); }

namespace {
template <class F>
void elementwise(std::int64_t n, int threads, F f) {
#pragma omp parallel for num_threads(threads) if (n > kParallelElements)
  for (std::int64_t i = 0; i < n; ++i) f(i);
}
}  // namespace

Tensor Activation::forward(const Tensor& x, const Context& ctx) {
  Tensor y = Tensor::uninitialized(x.shape());
  const float* in = x.data();
  float* out = y.data();
  const std::int64_t n = x.size();
  const float slope = slope_;
  switch (kind_) {
    case ActivationKind::relu: elementwise(n, ctx.threads, [&](std::int64_t i) { out[i] = in[i] > 0 ? in[i] : 0.0f; }); break;
    case ActivationKind::leaky_relu:
      elementwise(n, ctx.threads, [&](std::int64_t i) { out[i] = in[i] > 0 ? in[i] : slope * in[i]; });
      break;
    case ActivationKind::relu6: elementwise(n, ctx.threads, [&](std::int64_t i) { out[i] = std::clamp(in[i], 0.0f, 6.0f); }); break;
    case ActivationKind::sigmoid:
      elementwise(n, ctx.threads, [&](std::int64_t i) { out[i] = 1.0f / (1.0f + std::exp(-in[i])); });
      break;
    case ActivationKind::tanh: elementwise(n, ctx.threads, [&](std::int64_t i) { out[i] = std::tanh(in[i]); }); break;
    case ActivationKind::softplus:  // log(1 + e^x), computed without overflow
      elementwise(n, ctx.threads,
                  [&](std::int64_t i) { out[i] = std::max(in[i], 0.0f) + std::log1p(std::exp(-std::fabs(in[i]))); });
      break;
  }
  saved_.save(saves_output() ? y : x, ctx.precision, ctx.threads);
  return y;
}

Tensor Activation::backward(const Tensor& dy, const Context& ctx) {
  Tensor dx = Tensor::uninitialized(dy.shape());
  const Tensor kept = saved_.get(ctx.threads);
  const float *g = dy.data(), *v = kept.data();  // v: x, or y for sigmoid and tanh
  float* out = dx.data();
  const std::int64_t n = dy.size();
  const float slope = slope_;
  switch (kind_) {
    case ActivationKind::relu: elementwise(n, ctx.threads, [&](std::int64_t i) { out[i] = v[i] > 0 ? g[i] : 0.0f; }); break;
    case ActivationKind::leaky_relu:
      elementwise(n, ctx.threads, [&](std::int64_t i) { out[i] = v[i] > 0 ? g[i] : slope * g[i]; });
      break;
    case ActivationKind::relu6:
      elementwise(n, ctx.threads, [&](std::int64_t i) { out[i] = v[i] > 0 && v[i] < 6 ? g[i] : 0.0f; });
      break;
    case ActivationKind::sigmoid: elementwise(n, ctx.threads, [&](std::int64_t i) { out[i] = g[i] * v[i] * (1 - v[i]); }); break;
    case ActivationKind::tanh: elementwise(n, ctx.threads, [&](std::int64_t i) { out[i] = g[i] * (1 - v[i] * v[i]); }); break;
    case ActivationKind::softplus:  // d/dx log(1 + e^x) = sigmoid(x)
      elementwise(n, ctx.threads, [&](std::int64_t i) { out[i] = g[i] / (1.0f + std::exp(-v[i])); });
      break;
  }
  return dx;
}

}  // namespace flopslab::nn
