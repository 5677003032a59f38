// Step 1 on the GPU: the definition, one thread per output element. Each thread walks its
// whole sum, reading every input from global memory (the L1 and L2 catch the overlap between
// neighbouring threads' windows, nothing else reuses it). Correct for every shape, the
// reference the faster kernels are read against.
#include "kernels/cuda/conv/conv_cuda.h"

namespace flopslab::conv::cuda {
namespace {

// y[n][k][p][q] = sum_{c, r, s} x[n][g*C/g + c][ih][iw] * w[k][c][r][s]
__global__ void direct_forward(DeviceShape d, const float* __restrict__ x, const float* __restrict__ w,
                               float* __restrict__ y) {
  const std::int64_t index = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const std::int64_t total = std::int64_t(d.n) * d.k * d.p * d.q;
  if (index >= total) return;
  const int q = int(index % d.q), p = int(index / d.q % d.p), k = int(index / (std::int64_t(d.q) * d.p) % d.k),
            n = int(index / (std::int64_t(d.q) * d.p * d.k));
  const int group = k / d.k_per_group;
  const float* x_group = x + (std::int64_t(n) * d.c + std::int64_t(group) * d.c_per_group) * d.h * d.w;
  const float* w_k = w + std::int64_t(k) * d.c_per_group * d.r * d.s;
  float sum = 0;
  for (int c = 0; c < d.c_per_group; ++c)
    for (int r = 0; r < d.r; ++r) {
      const int ih = p * d.stride_h - d.pad_h + r * d.dilation_h;
      if (ih < 0 || ih >= d.h) continue;
      for (int s = 0; s < d.s; ++s) {
        const int iw = q * d.stride_w - d.pad_w + s * d.dilation_w;
        if (iw < 0 || iw >= d.w) continue;
        sum += x_group[(std::int64_t(c) * d.h + ih) * d.w + iw] * w_k[(c * d.r + r) * d.s + s];
      }
    }
  y[index] = sum;
}

// dx[n][c][h][w] = sum over the (k, r, s) whose window covers (h, w):
// p = (h + pad - r*dilation) / stride when that divides exactly and lands inside P.
__global__ void direct_backward_data(DeviceShape d, float* __restrict__ dx, const float* __restrict__ w,
                                     const float* __restrict__ dy) {
  const std::int64_t index = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const std::int64_t total = std::int64_t(d.n) * d.c * d.h * d.w;
  if (index >= total) return;
  const int iw = int(index % d.w), ih = int(index / d.w % d.h), c = int(index / (std::int64_t(d.w) * d.h) % d.c),
            n = int(index / (std::int64_t(d.w) * d.h * d.c));
  const int group = c / d.c_per_group, c_in_group = c % d.c_per_group;
  float sum = 0;
  for (int kg = 0; kg < d.k_per_group; ++kg) {
    const int k = group * d.k_per_group + kg;
    const float* dy_k = dy + (std::int64_t(n) * d.k + k) * d.p * d.q;
    const float* w_kc = w + (std::int64_t(k) * d.c_per_group + c_in_group) * d.r * d.s;
    for (int r = 0; r < d.r; ++r) {
      const int ph = ih + d.pad_h - r * d.dilation_h;
      if (ph < 0 || ph % d.stride_h != 0 || ph / d.stride_h >= d.p) continue;
      for (int s = 0; s < d.s; ++s) {
        const int pw = iw + d.pad_w - s * d.dilation_w;
        if (pw < 0 || pw % d.stride_w != 0 || pw / d.stride_w >= d.q) continue;
        sum += dy_k[std::int64_t(ph / d.stride_h) * d.q + pw / d.stride_w] * w_kc[r * d.s + s];
      }
    }
  }
  dx[index] = sum;
}

// dw[k][c][r][s] = sum over n, p, q of dy[n][k][p][q] * x[n][c][ih][iw]: one block per weight,
// its threads striding over the N*P*Q terms, then a fixed-order tree reduction, so the result
// is the same on every run.
constexpr int kReduceThreads = 256;
__global__ void direct_backward_weights(DeviceShape d, const float* __restrict__ x, float* __restrict__ dw,
                                        const float* __restrict__ dy) {
  const int index = blockIdx.x;  // < K * C/g * R * S
  const int s = index % d.s, r = index / d.s % d.r, c = index / (d.s * d.r) % d.c_per_group,
            k = index / (d.s * d.r * d.c_per_group);
  const int channel = k / d.k_per_group * d.c_per_group + c;
  const int terms = d.n * d.p * d.q;
  float sum = 0;
  for (int t = threadIdx.x; t < terms; t += kReduceThreads) {
    const int q = t % d.q, p = t / d.q % d.p, n = t / (d.q * d.p);
    const int ih = p * d.stride_h - d.pad_h + r * d.dilation_h, iw = q * d.stride_w - d.pad_w + s * d.dilation_w;
    if (ih < 0 || ih >= d.h || iw < 0 || iw >= d.w) continue;
    sum += dy[((std::int64_t(n) * d.k + k) * d.p + p) * d.q + q] * x[((std::int64_t(n) * d.c + channel) * d.h + ih) * d.w + iw];
  }
  __shared__ float partial[kReduceThreads];
  partial[threadIdx.x] = sum;
  __syncthreads();
  for (int half = kReduceThreads / 2; half > 0; half /= 2) {
    if (threadIdx.x < half) partial[threadIdx.x] += partial[threadIdx.x + half];
    __syncthreads();
  }
  if (threadIdx.x == 0) dw[index] = partial[0];
}

constexpr int kThreads = 256;

void forward(const Operands& op, const RunContext& ctx) {
  const std::int64_t total = op.shape.y_size();
  direct_forward<<<blocks_for(total, kThreads), kThreads, 0, stream_of(ctx)>>>(DeviceShape::of(op.shape), op.x, op.w, op.y);
  FLOPSLAB_CUDA_CHECK_LAUNCH();
}
void backward_data(const Operands& op, const RunContext& ctx) {
  const std::int64_t total = op.shape.x_size();
  direct_backward_data<<<blocks_for(total, kThreads), kThreads, 0, stream_of(ctx)>>>(DeviceShape::of(op.shape), op.x, op.w,
                                                                                      op.y);
  FLOPSLAB_CUDA_CHECK_LAUNCH();
}
void backward_weights(const Operands& op, const RunContext& ctx) {
  direct_backward_weights<<<unsigned(op.shape.w_size()), kReduceThreads, 0, stream_of(ctx)>>>(DeviceShape::of(op.shape),
                                                                                               op.x, op.w, op.y);
  FLOPSLAB_CUDA_CHECK_LAUNCH();
}

}  // namespace

extern const ConvVariant kCudaDirect{
    .name = "cuda-direct",
    .step = 1,
    .device = Device::cuda,
    .idea = "one thread per output element walks its whole sum from global memory",
    .forward = forward,
    .backward_data = backward_data,
    .backward_weights = backward_weights,
};

}  // namespace flopslab::conv::cuda
