// The pooling layers' GPU half: one thread per output (max and average, the window rules of
// kernels/cpu/conv/pooling.cpp), global average pooling one thread per plane. Max pooling's
// backward scatters with atomicAdd, since overlapping windows may pick the same input.
// (No fmt in .cu files: nvcc's front end rejects fmt 9's compile-time format checks.)
#include <cuda_runtime.h>

#include <cstdint>
#include <stdexcept>

#include "kernels/cpu/conv/pooling.h"
#include "kernels/cuda/cuda_check.h"
#include "nn/cuda/ops.h"
#include "nn/device.h"
#include "nn/layers.h"

namespace flopslab::nn {
namespace {

struct DevicePool {
  int h, w, p, q, kh, kw, sh, sw, ph, pw;
  std::int64_t planes;
};

DevicePool device_pool(const conv::PoolShape& s) {
  return {int(s.h), int(s.w), int(s.p()), int(s.q()), int(s.kernel_h), int(s.kernel_w), int(s.stride_h),
          int(s.stride_w), int(s.pad_h), int(s.pad_w), s.n * s.c};
}

// Output i's window, clipped to its plane (rows [h0, h1), columns [w0, w1)); returns where
// that input plane starts.
__device__ std::int64_t output_window(const DevicePool& d, std::int64_t i, int& h0, int& h1, int& w0, int& w1) {
  const int q = int(i % d.q), p = int(i / d.q % d.p);
  const int h = p * d.sh - d.ph, w = q * d.sw - d.pw;
  h0 = max(h, 0), h1 = min(h + d.kh, d.h), w0 = max(w, 0), w1 = min(w + d.kw, d.w);
  return i / (std::int64_t(d.p) * d.q) * d.h * d.w;
}

__global__ void max_forward_kernel(DevicePool d, const float* __restrict x, float* __restrict y, int* argmax) {
  const std::int64_t total = d.planes * d.p * d.q;
  for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < total;
       i += std::int64_t(gridDim.x) * blockDim.x) {
    int h0, h1, w0, w1;
    const float* in = x + output_window(d, i, h0, h1, w0, w1);
    float best = -INFINITY;
    int where = h0 * d.w + w0;
    bool found_nan = false;  // a NaN anywhere in the window is the maximum, as in PyTorch
    for (int h = h0; h < h1 && !found_nan; ++h)
      for (int w = w0; w < w1; ++w) {
        const float v = in[h * d.w + w];
        if (v > best || isnan(v)) {
          best = v, where = h * d.w + w;
          if ((found_nan = isnan(v))) break;
        }
      }
    y[i] = best;
    if (argmax != nullptr) argmax[i] = where;
  }
}

__global__ void max_backward_kernel(DevicePool d, const float* __restrict dy, const int* __restrict argmax,
                                    float* dx) {
  const std::int64_t total = d.planes * d.p * d.q;
  for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < total;
       i += std::int64_t(gridDim.x) * blockDim.x)
    atomicAdd(dx + i / (std::int64_t(d.p) * d.q) * d.h * d.w + argmax[i], dy[i]);
}

// Padding counts as zeros (count_include_pad): every window divides by kh * kw.
__global__ void avg_forward_kernel(DevicePool d, const float* __restrict x, float* __restrict y) {
  const std::int64_t total = d.planes * d.p * d.q;
  for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < total;
       i += std::int64_t(gridDim.x) * blockDim.x) {
    int h0, h1, w0, w1;
    const float* in = x + output_window(d, i, h0, h1, w0, w1);
    float sum = 0;
    for (int h = h0; h < h1; ++h)
      for (int w = w0; w < w1; ++w) sum += in[h * d.w + w];
    y[i] = sum / float(d.kh * d.kw);
  }
}

// One thread per input: the sum of the outputs whose windows hold it (no atomics).
__global__ void avg_backward_kernel(DevicePool d, const float* __restrict dy, float* __restrict dx) {
  const std::int64_t total = d.planes * d.h * d.w;
  for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < total;
       i += std::int64_t(gridDim.x) * blockDim.x) {
    const int w = int(i % d.w), h = int(i / d.w % d.h);
    const float* g = dy + i / (std::int64_t(d.h) * d.w) * d.p * d.q;
    // Outputs p with p*sh - ph <= h < p*sh - ph + kh.
    const int p_lo = max(0, (h + d.ph - d.kh + d.sh) / d.sh), p_hi = min(d.p - 1, (h + d.ph) / d.sh);
    const int q_lo = max(0, (w + d.pw - d.kw + d.sw) / d.sw), q_hi = min(d.q - 1, (w + d.pw) / d.sw);
    float sum = 0;
    for (int p = p_lo; p <= p_hi; ++p)
      for (int q = q_lo; q <= q_hi; ++q) sum += g[p * d.q + q];
    dx[i] = sum / float(d.kh * d.kw);
  }
}

__global__ void global_avg_forward_kernel(const float* __restrict x, float* __restrict y, std::int64_t planes,
                                          std::int64_t plane) {
  const std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x;
  if (i >= planes) return;
  double sum = 0;
  for (std::int64_t j = 0; j < plane; ++j) sum += x[i * plane + j];
  y[i] = float(sum / double(plane));
}

__global__ void global_avg_backward_kernel(const float* __restrict dy, float* __restrict dx, std::int64_t planes,
                                           std::int64_t plane) {
  for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < planes * plane;
       i += std::int64_t(gridDim.x) * blockDim.x)
    dx[i] = dy[i / plane] / float(plane);
}

cudaStream_t stream() { return static_cast<cudaStream_t>(cuda_stream()); }

}  // namespace

Tensor Pool2d::forward_cuda(const Tensor& x, const conv::PoolShape& s, const Context& ctx) {
  Tensor y = Tensor::uninitialized_on(DeviceTag::cuda, {s.n, s.c, s.p(), s.q()});
  const DevicePool d = device_pool(s);
  if (kind_ == PoolKind::max) {
    // int32 indices in a float tensor's storage (4 bytes each either way); training only.
    argmax_device_ = ctx.training ? Tensor::uninitialized_on(DeviceTag::cuda, {s.y_size()}) : Tensor();
    int* argmax = ctx.training ? reinterpret_cast<int*>(argmax_device_.data()) : nullptr;
    max_forward_kernel<<<gpu::blocks_for(s.y_size()), 256, 0, stream()>>>(d, x.data(), y.data(), argmax);
  } else {
    avg_forward_kernel<<<gpu::blocks_for(s.y_size()), 256, 0, stream()>>>(d, x.data(), y.data());
  }
  FLOPSLAB_NN_LAUNCHED();
  return y;
}

Tensor Pool2d::backward_cuda(const Tensor& dy, const conv::PoolShape& s) {
  const DevicePool d = device_pool(s);
  Tensor dx = Tensor::uninitialized_on(DeviceTag::cuda, x_shape_);
  if (kind_ == PoolKind::max) {
    if (argmax_device_.size() != dy.size())
      throw std::logic_error(describe() + ": backward without a training-mode forward (evaluation keeps no argmax)");
    dx.fill(0.0f);
    max_backward_kernel<<<gpu::blocks_for(s.y_size()), 256, 0, stream()>>>(
        d, dy.data(), reinterpret_cast<const int*>(argmax_device_.data()), dx.data());
  } else {
    avg_backward_kernel<<<gpu::blocks_for(s.x_size()), 256, 0, stream()>>>(d, dy.data(), dx.data());
  }
  FLOPSLAB_NN_LAUNCHED();
  return dx;
}

Tensor GlobalAvgPool::forward_cuda(const Tensor& x) {
  const std::int64_t planes = x.dim(0) * x.dim(1), plane = x.dim(2) * x.dim(3);
  Tensor y = Tensor::uninitialized_on(DeviceTag::cuda, {x.dim(0), x.dim(1)});
  global_avg_forward_kernel<<<unsigned((planes + 127) / 128), 128, 0, stream()>>>(x.data(), y.data(), planes, plane);
  FLOPSLAB_NN_LAUNCHED();
  return y;
}

Tensor GlobalAvgPool::backward_cuda(const Tensor& dy) {
  const std::int64_t planes = x_shape_[0] * x_shape_[1], plane = x_shape_[2] * x_shape_[3];
  Tensor dx = Tensor::uninitialized_on(DeviceTag::cuda, x_shape_);
  global_avg_backward_kernel<<<gpu::blocks_for(planes * plane), 256, 0, stream()>>>(dy.data(), dx.data(), planes, plane);
  FLOPSLAB_NN_LAUNCHED();
  return dx;
}

}  // namespace flopslab::nn
