// Conv2d's GPU half: the three passes through the CUDA ladder's implicit GEMM (or cuDNN with
// --backend vendor), the bias as a per-channel add and its gradient as per-channel sums.
// (No fmt in .cu files: nvcc's front end rejects fmt 9's compile-time format checks.)
#include <stdexcept>

#include "nn/cuda/ops.h"
#include "nn/layers.h"

namespace flopslab::nn {

Tensor Conv2d::forward_cuda(const Tensor& x, const Context& ctx) {
  if (x.rank() != 4) throw std::invalid_argument("Conv2d: expects a 4-D input, got " + x.shape_string());
  conv::Shape s = shape_;
  s.n = x.dim(0), s.h = x.dim(2), s.w = x.dim(3);
  if (x.dim(1) != s.c) throw std::invalid_argument(describe() + ": input has " + std::to_string(x.dim(1)) + " channels");
  if (const std::string problem = conv::shape_problem(s); !problem.empty())
    throw std::invalid_argument(describe() + " on " + x.shape_string() + ": " + problem);
  if (!weight.value.on_cuda()) throw std::invalid_argument(describe() + ": the input is on the GPU, the weights are not");
  gpu::require_gpu_precision(*this, ctx);
  shape_ = s;
  x_.save(x, Precision::fp32, ctx.threads);
  Tensor y = Tensor::uninitialized_on(DeviceTag::cuda, {s.n, s.k, s.p(), s.q()});
  gpu::conv_pass(conv::Pass::forward, {s, const_cast<float*>(x.data()), weight.value.data(), y.data()}, ctx.gpu_backend);
  gpu::add_channel_vector(y.data(), bias.value.data(), s.n, s.k, s.p() * s.q());
  return y;
}

Tensor Conv2d::backward_cuda(const Tensor& dy, const Context& ctx) {
  const conv::Shape& s = shape_;
  float* dy_data = const_cast<float*>(dy.data());  // the backward passes only read y (dy)
  if (!weight.frozen) {
    if (!weight.grad.on_cuda()) weight.grad = Tensor::uninitialized_on(DeviceTag::cuda, weight.value.shape());
    gpu::conv_pass(conv::Pass::backward_weights, {s, const_cast<float*>(x_.floats()), weight.grad.data(), dy_data},
                   ctx.gpu_backend);
  }
  if (!bias.frozen) {
    if (!bias.grad.on_cuda()) bias.grad = Tensor::uninitialized_on(DeviceTag::cuda, bias.value.shape());
    gpu::channel_sums(dy.data(), s.n, s.k, s.p() * s.q(), bias.grad.data());
  }
  Tensor dx;
  if (ctx.input_gradient) {
    dx = Tensor::uninitialized_on(DeviceTag::cuda, {s.n, s.c, s.h, s.w});
    gpu::conv_pass(conv::Pass::backward_data, {s, dx.data(), weight.value.data(), dy_data}, ctx.gpu_backend);
  }
  return dx;
}

}  // namespace flopslab::nn
