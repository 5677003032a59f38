// Linear's GPU half: the same three products as linear.cpp, as GEMMs on the device.
//   forward   y[N x out]  = x[N x in] W^T       (W^T: in x out, transposed each step)
//   backward  dW[out x in] = dy^T x             (dy^T: out x N)
//             db[out]      = column sums of dy
//             dx[N x in]   = dy[N x out] W
// Under bf16 the three GEMMs take bfloat16 operands on tensor cores (step 9 or cuBLASLt) and
// accumulate and return float32: activations, weights and gradients stay float32.
// (No fmt in .cu files: nvcc's front end rejects fmt 9's compile-time format checks.)
#include <stdexcept>

#include "nn/cuda/ops.h"
#include "nn/layers.h"

namespace flopslab::nn {

Tensor Linear::forward_cuda(const Tensor& x, const Context& ctx) {
  if (x.rank() != 2) throw std::invalid_argument("Linear: expects a 2-D input, got " + x.shape_string());
  if (x.dim(1) != weight.value.dim(1))
    throw std::invalid_argument(describe() + ": input has " + std::to_string(x.dim(1)) + " features");
  if (!weight.value.on_cuda()) throw std::invalid_argument(describe() + ": the input is on the GPU, the weights are not");
  gpu::require_gpu_precision(*this, ctx);
  const std::int64_t n = x.dim(0), in = x.dim(1), out = weight.value.dim(0);
  x_.save(x, Precision::fp32, ctx.threads);
  Tensor w_t = Tensor::uninitialized_on(DeviceTag::cuda, {in, out});
  gpu::transpose(weight.value.data(), out, in, w_t.data());
  Tensor y = Tensor::uninitialized_on(DeviceTag::cuda, {n, out});
  gpu::gemm({n, out, in}, x.data(), in, w_t.data(), out, y.data(), out, ctx.gpu_backend, ctx.precision);
  gpu::add_row_vector(y.data(), bias.value.data(), n, out);
  return y;
}

Tensor Linear::backward_cuda(const Tensor& dy, const Context& ctx) {
  const std::int64_t n = dy.dim(0), out = dy.dim(1), in = weight.value.dim(1);
  const Tensor x = x_.get(ctx.threads);
  if (!weight.frozen) {
    if (!weight.grad.on_cuda() || !weight.grad.same_shape(weight.value))
      weight.grad = Tensor::uninitialized_on(DeviceTag::cuda, weight.value.shape());
    Tensor dy_t = Tensor::uninitialized_on(DeviceTag::cuda, {out, n});
    gpu::transpose(dy.data(), n, out, dy_t.data());
    gpu::gemm({out, in, n}, dy_t.data(), n, x.data(), in, weight.grad.data(), in, ctx.gpu_backend, ctx.precision);
  }
  if (!bias.frozen) {
    if (!bias.grad.on_cuda() || !bias.grad.same_shape(bias.value))
      bias.grad = Tensor::uninitialized_on(DeviceTag::cuda, bias.value.shape());
    gpu::column_sums(dy.data(), n, out, bias.grad.data());
  }
  Tensor dx;
  if (ctx.input_gradient) {
    dx = Tensor::uninitialized_on(DeviceTag::cuda, {n, in});
    gpu::gemm({n, in, out}, dy.data(), out, weight.value.data(), in, dx.data(), in, ctx.gpu_backend, ctx.precision);
  }
  return dx;
}

}  // namespace flopslab::nn
