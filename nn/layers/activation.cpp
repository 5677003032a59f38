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

// Plain loops over local pointers, one per kind, so that each vectorises (a lambda through a
// helper did not: its captured pointers were reloaded on every element).
Tensor Activation::forward(const Tensor& x, const Context& ctx) {
  Tensor y = Tensor::uninitialized(x.shape());
  const float* __restrict in = x.data();
  float* __restrict out = y.data();
  const std::int64_t n = x.size();
  const float slope = slope_;
  const int threads = n > kParallelElements ? ctx.threads : 1;
  switch (kind_) {
    case ActivationKind::relu:
#pragma omp parallel for num_threads(threads) schedule(static)
      for (std::int64_t i = 0; i < n; ++i) out[i] = in[i] > 0 ? in[i] : 0.0f;
      break;
    case ActivationKind::leaky_relu:
#pragma omp parallel for num_threads(threads) schedule(static)
      for (std::int64_t i = 0; i < n; ++i) out[i] = in[i] > 0 ? in[i] : slope * in[i];
      break;
    case ActivationKind::relu6:
#pragma omp parallel for num_threads(threads) schedule(static)
      for (std::int64_t i = 0; i < n; ++i) out[i] = std::clamp(in[i], 0.0f, 6.0f);
      break;
    case ActivationKind::sigmoid:
#pragma omp parallel for num_threads(threads) schedule(static)
      for (std::int64_t i = 0; i < n; ++i) out[i] = 1.0f / (1.0f + std::exp(-in[i]));
      break;
    case ActivationKind::tanh:
#pragma omp parallel for num_threads(threads) schedule(static)
      for (std::int64_t i = 0; i < n; ++i) out[i] = std::tanh(in[i]);
      break;
    case ActivationKind::softplus:  // log(1 + e^x), computed without overflow
#pragma omp parallel for num_threads(threads) schedule(static)
      for (std::int64_t i = 0; i < n; ++i) out[i] = std::max(in[i], 0.0f) + std::log1p(std::exp(-std::fabs(in[i])));
      break;
  }
  saved_.save(saves_output() ? y : x, ctx.precision, ctx.threads);
  return y;
}

Tensor Activation::backward(const Tensor& dy, const Context& ctx) {
  Tensor dx = Tensor::uninitialized(dy.shape());
  const Tensor kept = saved_.get(ctx.threads);
  const float* __restrict g = dy.data();
  const float* __restrict v = kept.data();  // x, or y for sigmoid and tanh
  float* __restrict out = dx.data();
  const std::int64_t n = dy.size();
  const float slope = slope_;
  const int threads = n > kParallelElements ? ctx.threads : 1;
  switch (kind_) {
    case ActivationKind::relu:
#pragma omp parallel for num_threads(threads) schedule(static)
      for (std::int64_t i = 0; i < n; ++i) {
        const float gi = g[i];  // loaded either way, so the select becomes a blend, not a branch
        out[i] = v[i] > 0 ? gi : 0.0f;
      }
      break;
    case ActivationKind::leaky_relu:
#pragma omp parallel for num_threads(threads) schedule(static)
      for (std::int64_t i = 0; i < n; ++i) {
        const float gi = g[i];
        out[i] = v[i] > 0 ? gi : slope * gi;
      }
      break;
    case ActivationKind::relu6:
#pragma omp parallel for num_threads(threads) schedule(static)
      for (std::int64_t i = 0; i < n; ++i) {
        const float gi = g[i];
        out[i] = v[i] > 0 && v[i] < 6 ? gi : 0.0f;
      }
      break;
    case ActivationKind::sigmoid:
#pragma omp parallel for num_threads(threads) schedule(static)
      for (std::int64_t i = 0; i < n; ++i) out[i] = g[i] * v[i] * (1 - v[i]);
      break;
    case ActivationKind::tanh:
#pragma omp parallel for num_threads(threads) schedule(static)
      for (std::int64_t i = 0; i < n; ++i) out[i] = g[i] * (1 - v[i] * v[i]);
      break;
    case ActivationKind::softplus:  // d/dx log(1 + e^x) = sigmoid(x)
#pragma omp parallel for num_threads(threads) schedule(static)
      for (std::int64_t i = 0; i < n; ++i) out[i] = g[i] / (1.0f + std::exp(-v[i]));
      break;
  }
  return dx;
}

}  // namespace flopslab::nn
