// The activations' GPU half: the formulas of activation.cpp, one thread per element.
// (No fmt in .cu files: nvcc's front end rejects fmt 9's compile-time format checks.)
#include <stdexcept>

#include "kernels/cuda/cuda_check.h"
#include "nn/cuda/ops.h"
#include "nn/device.h"
#include "nn/layers.h"

namespace flopslab::nn {
namespace {

__device__ float activate(ActivationKind kind, float x, float slope) {
  switch (kind) {
    case ActivationKind::relu: return x > 0 ? x : 0.0f;
    case ActivationKind::leaky_relu: return x > 0 ? x : slope * x;
    case ActivationKind::relu6: return fminf(fmaxf(x, 0.0f), 6.0f);
    case ActivationKind::sigmoid: return 1.0f / (1.0f + expf(-x));
    case ActivationKind::tanh: return tanhf(x);
    case ActivationKind::softplus: return fmaxf(x, 0.0f) + log1pf(expf(-fabsf(x)));
  }
  return x;
}

// g = dL/dy, v = the saved input (the output for sigmoid and tanh)
__device__ float gradient(ActivationKind kind, float g, float v, float slope) {
  switch (kind) {
    case ActivationKind::relu: return v > 0 ? g : 0.0f;
    case ActivationKind::leaky_relu: return v > 0 ? g : slope * g;
    case ActivationKind::relu6: return v > 0 && v < 6 ? g : 0.0f;
    case ActivationKind::sigmoid: return g * v * (1 - v);
    case ActivationKind::tanh: return g * (1 - v * v);
    case ActivationKind::softplus: return g / (1.0f + expf(-v));
  }
  return g;
}

__global__ void forward_kernel(ActivationKind kind, float slope, const float* __restrict x, float* __restrict y,
                               std::int64_t n) {
  for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < n;
       i += std::int64_t(gridDim.x) * blockDim.x)
    y[i] = activate(kind, x[i], slope);
}

__global__ void backward_kernel(ActivationKind kind, float slope, const float* __restrict g,
                                const float* __restrict v, float* __restrict dx, std::int64_t n) {
  for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < n;
       i += std::int64_t(gridDim.x) * blockDim.x)
    dx[i] = gradient(kind, g[i], v[i], slope);
}

}  // namespace

Tensor Activation::forward_cuda(const Tensor& x, const Context& ctx) {
  gpu::require_gpu_precision(*this, ctx);
  Tensor y = Tensor::uninitialized_on(DeviceTag::cuda, x.shape());
  const auto stream = static_cast<cudaStream_t>(cuda_stream());
  forward_kernel<<<gpu::blocks_for(x.size()), 256, 0, stream>>>(kind_, slope_, x.data(), y.data(), x.size());
  FLOPSLAB_NN_LAUNCHED();
  saved_.save(saves_output() ? y : x, Precision::fp32, ctx.threads);
  return y;
}

Tensor Activation::backward_cuda(const Tensor& dy, const Context&) {
  Tensor dx = Tensor::uninitialized_on(DeviceTag::cuda, dy.shape());
  const auto stream = static_cast<cudaStream_t>(cuda_stream());
  backward_kernel<<<gpu::blocks_for(dy.size()), 256, 0, stream>>>(kind_, slope_, dy.data(), saved_.floats(),
                                                                   dx.data(), dy.size());
  FLOPSLAB_NN_LAUNCHED();
  return dx;
}

}  // namespace flopslab::nn
