// The optimizers' GPU half: every parameter tensor of a step updated by one launch (a
// multi-tensor kernel, as PyTorch's foreach/fused optimizers): block row y takes tensor y of
// the table, its blocks stride over that tensor's elements. The rules are optim.cpp's, in
// the same precision (float for Adam, double for SGD and RMSprop).
// (No fmt in .cu files: nvcc's front end rejects fmt 9's compile-time format checks.)
#include <cuda_runtime.h>

#include <algorithm>

#include "kernels/cuda/cuda_check.h"
#include "nn/cuda/ops.h"
#include "nn/device.h"

namespace flopslab::nn::gpu {
namespace {

constexpr int kSlotsPerLaunch = 48;  // 48 x 64 bytes: under the 4 KiB of kernel arguments
struct SlotTable {
  UpdateSlot slot[kSlotsPerLaunch];
};

__global__ void adam_kernel(SlotTable table, float b2, float eps, bool decoupled) {
  const UpdateSlot& s = table.slot[blockIdx.y];
  const float b1 = s.k[0], step = s.k[1], inv_sqrt_c2 = s.k[2], decay = s.k[3], shrink = s.k[4];
  for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < s.n;
       i += std::int64_t(gridDim.x) * blockDim.x) {
    float w = s.value[i], g = s.grad[i];
    if (decoupled)
      w *= shrink;
    else
      g += decay * w;
    const float m = b1 * s.state0[i] + (1 - b1) * g;
    const float v = b2 * s.state1[i] + (1 - b2) * g * g;
    s.state0[i] = m, s.state1[i] = v;
    s.value[i] = w - step * m / (sqrtf(v) * inv_sqrt_c2 + eps);
  }
}

__global__ void sgd_kernel(SlotTable table, bool nesterov) {
  const UpdateSlot& s = table.slot[blockIdx.y];
  const double lr = s.k[0], decay = s.k[1], momentum = s.k[2];
  for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < s.n;
       i += std::int64_t(gridDim.x) * blockDim.x) {
    double g = double(s.grad[i]) + decay * s.value[i];
    if (momentum != 0) {
      const double b = momentum * s.state0[i] + g;
      s.state0[i] = float(b);
      g = nesterov ? g + momentum * b : b;
    }
    s.value[i] = float(s.value[i] - lr * g);
  }
}

__global__ void rmsprop_kernel(SlotTable table, float alpha, float eps) {
  const UpdateSlot& s = table.slot[blockIdx.y];
  const double lr = s.k[0], decay = s.k[1], momentum = s.k[2];
  for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < s.n;
       i += std::int64_t(gridDim.x) * blockDim.x) {
    const double g = double(s.grad[i]) + decay * s.value[i];
    const double sq = double(alpha) * s.state0[i] + (1 - double(alpha)) * g * g;
    s.state0[i] = float(sq);
    const double scaled = g / (sqrt(sq) + double(eps));
    if (momentum > 0) {
      const double b = momentum * s.state1[i] + scaled;
      s.state1[i] = float(b);
      s.value[i] = float(s.value[i] - lr * b);
    } else {
      s.value[i] = float(s.value[i] - lr * scaled);
    }
  }
}

// Calls launch(table, grid) for each run of up to kSlotsPerLaunch slots.
template <class Launch>
void for_tables(const std::vector<UpdateSlot>& slots, Launch launch) {
  for (std::size_t first = 0; first < slots.size(); first += kSlotsPerLaunch) {
    SlotTable table{};
    const std::size_t count = std::min<std::size_t>(kSlotsPerLaunch, slots.size() - first);
    std::int64_t largest = 1;
    for (std::size_t i = 0; i < count; ++i) {
      table.slot[i] = slots[first + i];
      largest = std::max(largest, slots[first + i].n);
    }
    // Enough blocks per tensor for the largest; smaller tensors' extra blocks find no work.
    const dim3 grid(std::min<unsigned>(blocks_for(largest), 1024), unsigned(count));
    launch(table, grid);
    FLOPSLAB_NN_LAUNCHED();
  }
}

cudaStream_t stream() { return static_cast<cudaStream_t>(cuda_stream()); }

}  // namespace

void adam_update(const std::vector<UpdateSlot>& slots, float beta2, float eps, bool decoupled) {
  for_tables(slots, [&](const SlotTable& t, dim3 grid) { adam_kernel<<<grid, 256, 0, stream()>>>(t, beta2, eps, decoupled); });
}

void sgd_update(const std::vector<UpdateSlot>& slots, bool nesterov) {
  for_tables(slots, [&](const SlotTable& t, dim3 grid) { sgd_kernel<<<grid, 256, 0, stream()>>>(t, nesterov); });
}

void rmsprop_update(const std::vector<UpdateSlot>& slots, float alpha, float eps) {
  for_tables(slots, [&](const SlotTable& t, dim3 grid) { rmsprop_kernel<<<grid, 256, 0, stream()>>>(t, alpha, eps); });
}

}  // namespace flopslab::nn::gpu
