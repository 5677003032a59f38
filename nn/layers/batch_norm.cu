// BatchNorm's GPU half: one block per channel, the formulas of batch_norm.cpp. Sums run in
// float per thread and in double across the block's threads, in a fixed order.
// (No fmt in .cu files: nvcc's front end rejects fmt 9's compile-time format checks.)
#include <cuda_runtime.h>

#include <stdexcept>

#include "kernels/cuda/cuda_check.h"
#include "nn/cuda/ops.h"
#include "nn/device.h"
#include "nn/layers.h"

namespace flopslab::nn {
namespace {

constexpr int kThreads = 256;

// The block's sum of `value`, returned to every thread.
__device__ double block_sum(double value, double* shared) {
  shared[threadIdx.x] = value;
  __syncthreads();
  for (int half = kThreads / 2; half > 0; half /= 2) {
    if (threadIdx.x < half) shared[threadIdx.x] += shared[threadIdx.x + half];
    __syncthreads();
  }
  const double total = shared[0];
  __syncthreads();  // shared may be reused at once
  return total;
}

struct Layout {
  std::int64_t n, c, plane;
  __device__ std::int64_t at(std::int64_t e, std::int64_t ch) const { return (e / plane * c + ch) * plane + e % plane; }
};

__global__ void forward_kernel(Layout l, const float* __restrict x, float* __restrict y, float* __restrict x_hat,
                               const float* __restrict gamma, const float* __restrict beta, float* running_mean,
                               float* running_var, float* inv_std_out, bool training, bool update, float eps,
                               float momentum) {
  __shared__ double shared[kThreads];
  const std::int64_t ch = blockIdx.x, count = l.n * l.plane;
  double mean, var;
  if (training) {
    float s = 0;
    for (std::int64_t e = threadIdx.x; e < count; e += kThreads) s += x[l.at(e, ch)];
    mean = block_sum(s, shared) / double(count);
    const float m = float(mean);
    float sq = 0;
    for (std::int64_t e = threadIdx.x; e < count; e += kThreads) {
      const float d = x[l.at(e, ch)] - m;
      sq += d * d;
    }
    const double sum_sq = block_sum(sq, shared);
    var = sum_sq / double(count);
    if (update && threadIdx.x == 0) {
      running_mean[ch] = float((1 - momentum) * running_mean[ch] + momentum * mean);
      running_var[ch] = float((1 - momentum) * running_var[ch] + momentum * sum_sq / double(count - 1));
    }
  } else {
    mean = running_mean[ch];
    var = running_var[ch];
  }
  const float inv_std = float(1.0 / sqrt(var + double(eps))), m = float(mean), g = gamma[ch], b = beta[ch];
  if (threadIdx.x == 0) inv_std_out[ch] = inv_std;
  for (std::int64_t e = threadIdx.x; e < count; e += kThreads) {
    const std::int64_t i = l.at(e, ch);
    const float xh = (x[i] - m) * inv_std;
    x_hat[i] = xh;
    y[i] = g * xh + b;
  }
}

// Training: dx = inv_std * gamma * (dy - mean(dy) - x_hat * mean(dy * x_hat)); evaluation
// (fixed statistics): dx = dy * gamma * inv_std.
__global__ void backward_kernel(Layout l, const float* __restrict dy, const float* __restrict x_hat,
                                const float* __restrict gamma, const float* __restrict inv_std, float* __restrict dx,
                                float* dgamma, float* dbeta, bool trained) {
  __shared__ double shared[kThreads];
  const std::int64_t ch = blockIdx.x, count = l.n * l.plane;
  float s = 0, sx = 0;
  for (std::int64_t e = threadIdx.x; e < count; e += kThreads) {
    const std::int64_t i = l.at(e, ch);
    s += dy[i];
    sx += dy[i] * x_hat[i];
  }
  const double sum_dy = block_sum(s, shared), sum_dy_xhat = block_sum(sx, shared);
  if (threadIdx.x == 0) {
    if (dgamma != nullptr) dgamma[ch] = float(sum_dy_xhat);
    if (dbeta != nullptr) dbeta[ch] = float(sum_dy);
  }
  const float scale = gamma[ch] * inv_std[ch];
  const float mean_dy = float(sum_dy / double(count)), mean_dy_xhat = float(sum_dy_xhat / double(count));
  for (std::int64_t e = threadIdx.x; e < count; e += kThreads) {
    const std::int64_t i = l.at(e, ch);
    dx[i] = trained ? scale * (dy[i] - mean_dy - x_hat[i] * mean_dy_xhat) : scale * dy[i];
  }
}

cudaStream_t stream() { return static_cast<cudaStream_t>(cuda_stream()); }

}  // namespace

Tensor BatchNorm::forward_cuda(const Tensor& x, const Context& ctx) {
  gpu::require_gpu_precision(*this, ctx);
  if (!weight.value.on_cuda() || !running_mean.on_cuda())
    throw std::invalid_argument(describe() + ": the input is on the GPU, the parameters are not");
  const std::int64_t n = x.dim(0), plane = x.rank() == 4 ? x.dim(2) * x.dim(3) : 1;
  Tensor y = Tensor::uninitialized_on(DeviceTag::cuda, x.shape());
  Tensor x_hat = Tensor::uninitialized_on(DeviceTag::cuda, x.shape());
  inv_std_ = Tensor::uninitialized_on(DeviceTag::cuda, {channels_});
  trained_pass_ = ctx.training;
  forward_kernel<<<unsigned(channels_), kThreads, 0, stream()>>>(
      {n, channels_, plane}, x.data(), y.data(), x_hat.data(), weight.value.data(), bias.value.data(),
      running_mean.data(), running_var.data(), inv_std_.data(), ctx.training, ctx.training && ctx.update_statistics,
      eps_, momentum_);
  FLOPSLAB_NN_LAUNCHED();
  x_hat_.save(x_hat, Precision::fp32, ctx.threads);
  return y;
}

Tensor BatchNorm::backward_cuda(const Tensor& dy, const Context&) {
  const std::int64_t n = dy.dim(0), plane = dy.rank() == 4 ? dy.dim(2) * dy.dim(3) : 1;
  Tensor dx = Tensor::uninitialized_on(DeviceTag::cuda, dy.shape());
  if (!weight.frozen && !weight.grad.on_cuda()) weight.grad = Tensor::uninitialized_on(DeviceTag::cuda, {channels_});
  if (!bias.frozen && !bias.grad.on_cuda()) bias.grad = Tensor::uninitialized_on(DeviceTag::cuda, {channels_});
  backward_kernel<<<unsigned(channels_), kThreads, 0, stream()>>>(
      {n, channels_, plane}, dy.data(), x_hat_.floats(), weight.value.data(), inv_std_.data(), dx.data(),
      weight.frozen ? nullptr : weight.grad.data(), bias.frozen ? nullptr : bias.grad.data(), trained_pass_);
  FLOPSLAB_NN_LAUNCHED();
  return dx;
}

}  // namespace flopslab::nn
