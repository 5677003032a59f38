// The grow-never-free scratch buffers on the GPU and the hook that lets nn/ reclaim memory first.
#include "kernels/cuda/workspace.h"

#include <cuda_runtime.h>

#include <atomic>
#include <stdexcept>

namespace flopslab::cuda {
namespace {
std::atomic<void (*)()> reclaimer{nullptr};
}  // namespace

void set_memory_reclaimer(void (*reclaim)()) { reclaimer = reclaim; }

void* Workspace::reserve(std::size_t bytes, const std::string& why) {
  if (bytes <= size_) return data_;
  void* grown = nullptr;
  cudaError_t status = cudaMalloc(&grown, bytes);
  if (status != cudaSuccess) {
    (void)cudaGetLastError();
    if (void (*reclaim)() = reclaimer.load()) {
      reclaim();
      status = cudaMalloc(&grown, bytes);
      if (status != cudaSuccess) (void)cudaGetLastError();
    }
  }
  if (status != cudaSuccess) {
    std::size_t free_bytes = 0, total = 0;
    (void)cudaMemGetInfo(&free_bytes, &total);
    throw std::runtime_error(owner_ + (why.empty() ? "" : " (" + why + ")") + " needs a workspace of " +
                             std::to_string(bytes >> 20) + " MiB, more than the GPU can give (" +
                             std::to_string(free_bytes >> 20) + " MiB free of " + std::to_string(total >> 20) +
                             "): " + cudaGetErrorString(status) + "; use a smaller batch or shape");
  }
  data_ = grown;  // the outgrown one stays allocated: a captured graph may still use it
  size_ = bytes;
  return data_;
}

}  // namespace flopslab::cuda
