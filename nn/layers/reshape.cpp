// The layers that only move values: Flatten and ChannelShuffle.
#include "kernels/cpu/conv/channel_shuffle.h"
#include "nn/cuda/ops.h"
#include "nn/layers/common.h"

namespace flopslab::nn {
using namespace detail;

Tensor Flatten::forward(const Tensor& x, const Context&) {
  x_shape_ = x.shape();
  return x.view({x.dim(0), -1});
}
Tensor Flatten::backward(const Tensor& dy, const Context&) { return dy.view(x_shape_); }

std::string ChannelShuffle::describe() const { return "ChannelShuffle(" + std::to_string(groups_) + ")"; }

Tensor ChannelShuffle::forward(const Tensor& x, const Context& ctx) {
  require_rank(x, 4, describe());
  if (x.dim(1) % groups_ != 0)
    throw std::invalid_argument(describe() + ": " + std::to_string(groups_) + " groups do not divide " +
                                std::to_string(x.dim(1)) + " channels");
  Tensor y = Tensor::uninitialized_on(x.device(), x.shape());  // every element is written
  if (x.on_cuda())
    gpu::channel_shuffle(x.data(), y.data(), x.dim(0), x.dim(1), x.dim(2) * x.dim(3), groups_);
  else
    conv::channel_shuffle(x.data(), y.data(), x.dim(0), x.dim(1), x.dim(2) * x.dim(3), groups_, ctx.threads);
  return y;
}

Tensor ChannelShuffle::backward(const Tensor& dy, const Context& ctx) {
  Tensor dx = Tensor::uninitialized_on(dy.device(), dy.shape());  // the inverse permutation: C/g groups
  if (dy.on_cuda())
    gpu::channel_shuffle(dy.data(), dx.data(), dy.dim(0), dy.dim(1), dy.dim(2) * dy.dim(3), dy.dim(1) / groups_);
  else
    conv::channel_shuffle(dy.data(), dx.data(), dy.dim(0), dy.dim(1), dy.dim(2) * dy.dim(3), dy.dim(1) / groups_,
                          ctx.threads);
  return dx;
}


// A view: nothing computed, nothing moved.
LayerCost Flatten::cost(const std::vector<std::int64_t>&, const std::vector<std::int64_t>&, bool) const {
  return {.counted = true};
}

LayerCost ChannelShuffle::cost(const std::vector<std::int64_t>& input, const std::vector<std::int64_t>& output,
                               bool) const {
  return data_movement_cost(element_count(input), element_count(output), 0);
}

}  // namespace flopslab::nn
