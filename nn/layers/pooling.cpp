// Max and average pooling (the kernels in kernels/cpu/conv/pooling) and global average pooling.
#include "kernels/cpu/conv/pooling.h"
#include "nn/layers/common.h"
#include "nn/device.h"

namespace flopslab::nn {
using namespace detail;

Pool2d::Pool2d(PoolKind kind, std::int64_t kernel, std::int64_t stride, std::int64_t pad)
    : kind_(kind), kernel_(kernel), stride_(stride), pad_(pad) {}

std::string Pool2d::describe() const {
  return std::string(kind_ == PoolKind::max ? "MaxPool2d(" : "AvgPool2d(") + std::to_string(kernel_) + ", stride " +
         std::to_string(stride_) + (pad_ ? ", pad " + std::to_string(pad_) : "") + ")";
}

Tensor Pool2d::forward(const Tensor& x, const Context& ctx) {
  require_rank(x, 4, describe());
  const conv::PoolShape s{.n = x.dim(0), .c = x.dim(1), .h = x.dim(2), .w = x.dim(3), .kernel_h = kernel_,
                          .kernel_w = kernel_, .stride_h = stride_, .stride_w = stride_, .pad_h = pad_, .pad_w = pad_};
  if (const std::string problem = conv::pool_problem(s); !problem.empty())
    throw std::invalid_argument(describe() + " on " + x.shape_string() + ": " + problem);
  x_shape_ = x.shape();
  if (x.on_cuda()) return forward_cuda(x, s, ctx);
  Tensor y = Tensor::uninitialized({s.n, s.c, s.p(), s.q()});
  if (kind_ == PoolKind::max) {
    // Only training keeps where each maximum came from (its backward's only need).
    argmax_.resize(ctx.training ? std::size_t(s.y_size()) : 0);
    conv::max_pool_forward(s, x.data(), y.data(), ctx.training ? argmax_.data() : nullptr, ctx.threads);
  } else {
    conv::avg_pool_forward(s, x.data(), y.data(), ctx.threads);
  }
  return y;
}

Tensor Pool2d::backward(const Tensor& dy, const Context& ctx) {
  const conv::PoolShape s{.n = x_shape_[0], .c = x_shape_[1], .h = x_shape_[2], .w = x_shape_[3], .kernel_h = kernel_,
                          .kernel_w = kernel_, .stride_h = stride_, .stride_w = stride_, .pad_h = pad_, .pad_w = pad_};
  if (dy.on_cuda()) return backward_cuda(dy, s);
  if (kind_ == PoolKind::max && argmax_.size() != std::size_t(dy.size()))
    throw std::logic_error(describe() + ": backward without a training-mode forward (evaluation keeps no argmax)");
  Tensor dx = Tensor::uninitialized(x_shape_);  // both backward kernels clear dx first
  if (kind_ == PoolKind::max)
    conv::max_pool_backward(s, dy.data(), argmax_.data(), dx.data(), ctx.threads);
  else
    conv::avg_pool_backward(s, dy.data(), dx.data(), ctx.threads);
  return dx;
}

Tensor GlobalAvgPool::forward(const Tensor& x, const Context&) {
  require_rank(x, 4, "GlobalAvgPool");
  x_shape_ = x.shape();
  if (x.on_cuda()) return forward_cuda(x);
  const std::int64_t planes = x.dim(0) * x.dim(1), plane = x.dim(2) * x.dim(3);
  Tensor y({x.dim(0), x.dim(1)});
  for (std::int64_t i = 0; i < planes; ++i) {
    double sum = 0;
    for (std::int64_t j = 0; j < plane; ++j) sum += x[i * plane + j];
    y[i] = float(sum / double(plane));
  }
  return y;
}

Tensor GlobalAvgPool::backward(const Tensor& dy, const Context&) {
  if (dy.on_cuda()) return backward_cuda(dy);
  Tensor dx(x_shape_);
  const std::int64_t plane = x_shape_[2] * x_shape_[3];
  for (std::int64_t i = 0; i < dy.size(); ++i)
    for (std::int64_t j = 0; j < plane; ++j) dx[i * plane + j] = dy[i] / float(plane);
  return dx;
}


#ifndef FLOPSLAB_HAVE_CUDA  // the CPU-only build's stand-in of the GPU half (nn/device.h's no_cuda)
Tensor Pool2d::forward_cuda(const Tensor&, const conv::PoolShape&, const Context&) { no_cuda(describe()); }
Tensor Pool2d::backward_cuda(const Tensor&, const conv::PoolShape&) { no_cuda(describe()); }
Tensor GlobalAvgPool::forward_cuda(const Tensor&) { no_cuda(describe()); }
Tensor GlobalAvgPool::backward_cuda(const Tensor&) { no_cuda(describe()); }
#endif

// Max pooling saves one int32 index per output (written forward, read backward); its backward
// needs dy and those indices, average pooling's dy alone.
LayerCost Pool2d::cost(const std::vector<std::int64_t>& input, const std::vector<std::int64_t>& output, bool) const {
  const double in = element_count(input), out = element_count(output), indices = kind_ == PoolKind::max ? 4 * out : 0;
  return data_movement_cost(in, out, 0, indices, indices);
}

LayerCost GlobalAvgPool::cost(const std::vector<std::int64_t>& input, const std::vector<std::int64_t>& output,
                              bool) const {
  return data_movement_cost(element_count(input), element_count(output), 0);
}

}  // namespace flopslab::nn
