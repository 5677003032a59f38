// DeviceDataset::gather: one block per sample gathers its 8-bit image, flips and crops it into
// shared memory, jitters it about its mean (a fixed-shape tree, so the same bits every run)
// and normalises it, as nn/data.cpp's apply_augment and normalize do on the CPU.
// (No fmt in .cu files: nvcc's front end rejects fmt 9's compile-time format checks.)
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

#include "kernels/cuda/cuda_check.h"
#include "nn/cuda/ops.h"
#include "nn/device.h"
#include "nn/device_data.h"

namespace flopslab::nn {
namespace {

struct DeviceAugment {  // SampleAugment as the kernel reads it, 24 bytes
  int sample, flip, dy, dx;
  float brightness, contrast;  // 1 and 1: no jitter
};
static_assert(sizeof(DeviceAugment) == 24);

__global__ void gather_kernel(const unsigned char* __restrict pixels, const DeviceAugment* __restrict plan, int c, int h,
                              int w, float mean, float stddev, float* __restrict out) {
  extern __shared__ float image[];  // c x h x w
  __shared__ double partial[kGatherThreads];  // kGatherScratchBytes, beside the image
  const DeviceAugment a = plan[blockIdx.x];
  const int size = c * h * w;
  const unsigned char* src = pixels + std::int64_t(a.sample) * size;
  for (int e = threadIdx.x; e < size; e += blockDim.x) {
    const int ch = e / (h * w), r = e / w % h, q = e % w;
    const int sr = r + a.dy, sq0 = q + a.dx;  // the window's source pixel, then the flip
    const int sq = a.flip ? w - 1 - sq0 : sq0;
    image[e] = sr >= 0 && sr < h && sq0 >= 0 && sq0 < w ? float(src[(ch * h + sr) * w + sq]) / 255.0f : 0.0f;
  }
  __syncthreads();
  const bool jitter = a.brightness != 1.0f || a.contrast != 1.0f;
  double image_mean = 0;
  if (jitter) {
    double sum = 0;
    for (int e = threadIdx.x; e < size; e += blockDim.x) sum += image[e] * a.brightness;
    partial[threadIdx.x] = sum;
    __syncthreads();
    for (int half = blockDim.x / 2; half > 0; half /= 2) {
      if (threadIdx.x < half) partial[threadIdx.x] += partial[threadIdx.x + half];
      __syncthreads();
    }
    image_mean = partial[0] / double(size);
  }
  float* dst = out + std::int64_t(blockIdx.x) * size;
  for (int e = threadIdx.x; e < size; e += blockDim.x) {
    float v = image[e];
    if (jitter) v = fminf(fmaxf(float((v * a.brightness - image_mean) * a.contrast + image_mean), 0.0f), 1.0f);
    dst[e] = (v - mean) / stddev;
  }
}

}  // namespace

Batch DeviceDataset::gather(const BatchPlan& plan) const {
  const Transforms& t = plan.transforms;
  if (t.mixup_alpha > 0) throw std::invalid_argument("mixup is not done on the GPU; train without --data-on-gpu");
  const std::int64_t n = std::int64_t(plan.samples.size()), c = data_.images.dim(1), h = data_.images.dim(2),
                     w = data_.images.dim(3);
  const std::size_t shared = std::size_t(c * h * w) * sizeof(float);
  if (const std::string problem = gather_shared_memory_problem(c, h, w); !problem.empty())
    throw std::invalid_argument(problem);
  // The flip mirrors the cropped window on the CPU: flip first, then crop, which the kernel
  // reads as: the window's pixel (r + dy, q + dx) of the flipped image.
  Tensor staged = Tensor::uninitialized({n * std::int64_t(sizeof(DeviceAugment) / sizeof(float))});
  auto* augments = reinterpret_cast<DeviceAugment*>(staged.data());
  Batch b;
  for (std::int64_t i = 0; i < n; ++i) {
    const SampleAugment& s = plan.augments[std::size_t(i)];
    augments[i] = {int(plan.samples[std::size_t(i)]), s.flip ? 1 : 0, int(s.dy), int(s.dx),
                   s.jitter ? s.brightness : 1.0f, s.jitter ? s.contrast : 1.0f};
    b.y.push_back(data_.labels[std::size_t(plan.samples[std::size_t(i)])]);
  }
  const Tensor device_plan = staged.to(DeviceTag::cuda);
  b.x = Tensor::uninitialized_on(DeviceTag::cuda, {n, c, h, w});
  if (n == 0) return b;
  gather_kernel<<<unsigned(n), kGatherThreads, shared, static_cast<cudaStream_t>(cuda_stream())>>>(
      reinterpret_cast<const unsigned char*>(pixels_.data()), reinterpret_cast<const DeviceAugment*>(device_plan.data()),
      int(c), int(h), int(w), t.mean, t.stddev, b.x.data());
  FLOPSLAB_NN_LAUNCHED();
  return b;
}

}  // namespace flopslab::nn
