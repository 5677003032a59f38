// Channel shuffle on the GPU: one thread per output element, forward and backward.
#include "kernels/cuda/conv/channel_shuffle_cuda.h"

#include <cuda_runtime.h>

#include <algorithm>

#include "kernels/cuda/conv/conv_cuda.h"

namespace flopslab::conv::cuda {
namespace {

// One element (a float, or a float4 when planes hold whole float4s) per step of a grid-stride
// loop: consecutive threads copy consecutive addresses of the same plane, so both the read and
// the write are coalesced; only the plane each thread starts from is permuted.
template <class T>
__global__ void shuffle_planes(const T* __restrict__ x, T* __restrict__ y, std::int64_t total, std::int64_t plane,
                               std::int64_t channels, std::int64_t groups) {
  const std::int64_t per_group = channels / groups;
  for (std::int64_t i = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += std::int64_t(gridDim.x) * blockDim.x) {
    const std::int64_t plane_index = i / plane, offset = i - plane_index * plane;
    const std::int64_t image = plane_index / channels, ch = plane_index - image * channels;
    const std::int64_t source = ch % groups * per_group + ch / groups;
    y[i] = x[(image * channels + source) * plane + offset];
  }
}

}  // namespace

void channel_shuffle(const float* x, float* y, std::int64_t n, std::int64_t c, std::int64_t plane, std::int64_t groups,
                     void* stream) {
  const std::int64_t count = n * c * plane;
  if (count == 0) return;
  constexpr int kThreads = 256;
  const int sms = multiprocessor_count();
  auto launch = [&](auto* typed_x, auto* typed_y, std::int64_t total, std::int64_t typed_plane) {
    const unsigned grid = unsigned(std::min<std::int64_t>((total + kThreads - 1) / kThreads, std::int64_t(sms) * 16));
    shuffle_planes<<<grid, kThreads, 0, static_cast<cudaStream_t>(stream)>>>(typed_x, typed_y, total, typed_plane, c,
                                                                            groups);
    FLOPSLAB_CUDA_CHECK_LAUNCH();
  };
  const bool aligned = reinterpret_cast<std::uintptr_t>(x) % 16 == 0 && reinterpret_cast<std::uintptr_t>(y) % 16 == 0;
  if (plane % 4 == 0 && aligned)
    launch(reinterpret_cast<const float4*>(x), reinterpret_cast<float4*>(y), count / 4, plane / 4);
  else
    launch(x, y, count, plane);
}

}  // namespace flopslab::conv::cuda
