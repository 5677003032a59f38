// The training images resident on the GPU as 8-bit pixels (Fashion-MNIST's 60000 x 784:
// 47 MB), and batches gathered and augmented there from the loader's plans (nn/data.h): per
// step only the plan crosses the bus (a sample index and its random choices, 24 bytes a
// sample) instead of the batch's float32 images. The same seed gives the same batches as the
// CPU loader: the choices are the loader's own, applied by a kernel that does what
// apply_augment and normalize do.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "nn/data.h"

namespace flopslab::nn {

// The images as bytes (pixel * 255); throws std::invalid_argument when a pixel is not a
// multiple of 1/255 in [0, 1] (not 8-bit data), naming the first such sample.
std::vector<std::uint8_t> images_as_bytes(const Dataset& data);

// The gather kernel: one block of kGatherThreads per sample, its image in shared memory beside
// a reduction's scratch of one double per thread, all within the 48 KiB a block gets without
// opting in. Why an image of c x h x w floats does not fit (empty when it does): 11,776 floats
// do, with the scratch's 2 KiB, and 3 x 64 x 64 does not.
constexpr int kGatherThreads = 256;
constexpr std::size_t kGatherScratchBytes = kGatherThreads * sizeof(double);
constexpr std::size_t kBlockSharedBytes = 48 * 1024;
std::string gather_shared_memory_problem(std::int64_t c, std::int64_t h, std::int64_t w);

class DeviceDataset {
 public:
  // Copies the images (as images_as_bytes) and labels to the GPU; throws what
  // images_as_bytes throws, and std::runtime_error when no GPU is usable.
  explicit DeviceDataset(const Dataset& data);
  // The batch the loader's batch(index) makes from this plan, with x on the GPU. Mixup is
  // refused (std::invalid_argument): its partner blend is not done on the GPU.
  Batch gather(const BatchPlan& plan) const;
  std::int64_t bytes() const { return bytes_; }  // resident on the GPU

 private:
  [[maybe_unused]] const Dataset& data_;  // (unused by the CPU-only stand-in)
  Tensor pixels_;  // the bytes, four to a float's storage
  std::int64_t bytes_ = 0;
};

}  // namespace flopslab::nn
