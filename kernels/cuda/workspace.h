// The scratch memory a GPU kernel or library keeps between calls (split-K slices, cuDNN's and
// cuBLASLt's workspaces): grown when a call needs more, never freed, since a CUDA graph captured
// earlier may still replay into it (nn/graph.h).
//
// The tensors above the kernels keep freed blocks in a cache of their own (nn/memory.h), which
// cudaMemGetInfo counts as used. So a workspace does not judge by the free memory: it asks
// cudaMalloc, and when that fails it has the cache give its parked blocks back (the reclaimer
// nn/ installs) and asks once more.
#pragma once

#include <cstddef>
#include <string>

namespace flopslab::cuda {

// Called when a workspace cannot be allocated: hand cached GPU memory back to CUDA.
void set_memory_reclaimer(void (*reclaim)());

class Workspace {
 public:
  explicit Workspace(std::string owner) : owner_(std::move(owner)) {}
  // At least `bytes`, 256-byte aligned. Throws std::runtime_error naming the owner, the size
  // asked for (and `why`, e.g. an algorithm's name) and the GPU memory free.
  void* reserve(std::size_t bytes, const std::string& why = "");
  std::size_t size() const { return size_; }

 private:
  std::string owner_;
  void* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace flopslab::cuda
