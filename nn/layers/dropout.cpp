// Dropout: zeroes each input with probability p in training and scales the rest by 1/(1-p).
#include "nn/cuda/ops.h"
#include "nn/layers/common.h"

namespace flopslab::nn {
using namespace detail;

Dropout::Dropout(float p) : p_(p) {
  if (!(p >= 0 && p < 1)) throw std::invalid_argument("Dropout: p must be in [0, 1), got " + std::to_string(p));
}
std::string Dropout::describe() const { return "Dropout(" + std::to_string(p_).substr(0, 4) + ")"; }

Tensor Dropout::forward(const Tensor& x, const Context& ctx) {
  if (!ctx.training || p_ == 0) {
    mask_ = Tensor();
    return x;
  }
  if (ctx.rng == nullptr) throw std::logic_error("Dropout: training needs a random generator in the context");
  mask_ = Tensor(x.shape());
  std::bernoulli_distribution keep(1.0 - p_);
  const float scale = 1.0f / (1.0f - p_);
  for (std::int64_t i = 0; i < x.size(); ++i) mask_[i] = keep(*ctx.rng) ? scale : 0.0f;
  if (x.on_cuda()) {  // the same mask as on the CPU (the same generator), copied over
    mask_ = mask_.to(DeviceTag::cuda);
    Tensor y = Tensor::uninitialized_on(DeviceTag::cuda, x.shape());
    gpu::multiply(x.data(), mask_.data(), y.data(), x.size());
    return y;
  }
  Tensor y(x.shape());
  for (std::int64_t i = 0; i < x.size(); ++i) y[i] = x[i] * mask_[i];
  return y;
}

Tensor Dropout::backward(const Tensor& dy, const Context&) {
  if (mask_.empty()) return dy;
  if (dy.on_cuda()) {
    Tensor dx = Tensor::uninitialized_on(DeviceTag::cuda, dy.shape());
    gpu::multiply(dy.data(), mask_.data(), dx.data(), dy.size());
    return dx;
  }
  Tensor dx(dy.shape());
  for (std::int64_t i = 0; i < dy.size(); ++i) dx[i] = dy[i] * mask_[i];
  return dx;
}

// The mask, one float per element, is written forward and read backward.
LayerCost Dropout::cost(const std::vector<std::int64_t>& input, const std::vector<std::int64_t>& output,
                        bool) const {
  return data_movement_cost(element_count(input), element_count(output), 1, 4 * element_count(input));
}

}  // namespace flopslab::nn
