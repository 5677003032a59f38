// The host half of nn/device_data.h (gather is in device_data.cu or cuda_none.cpp).
#include "nn/device_data.h"

#include <stdexcept>
#include <string>

#include "nn/device.h"

namespace flopslab::nn {

std::vector<std::uint8_t> images_as_bytes(const Dataset& data) {
  const Tensor& x = data.images;
  std::vector<std::uint8_t> out(std::size_t(x.size()));
  const std::int64_t per = data.size() > 0 ? x.size() / data.size() : 1;
  if (const std::int64_t i = pixels_as_bytes(x, 1e-3f, out.data()); i >= 0)
    throw std::invalid_argument("the dataset cannot stay on the GPU as 8-bit pixels: sample " +
                                std::to_string(i / per) + " has the pixel " + std::to_string(x[i]) +
                                ", not a multiple of 1/255 in [0, 1]; train without --data-on-gpu");
  return out;
}

std::string gather_shared_memory_problem(std::int64_t c, std::int64_t h, std::int64_t w) {
  const std::size_t image = std::size_t(c * h * w) * sizeof(float);
  if (image + kGatherScratchBytes <= kBlockSharedBytes) return {};
  return "images of " + std::to_string(c) + "x" + std::to_string(h) + "x" + std::to_string(w) + " (" +
         std::to_string(image) + " bytes) do not fit one block's shared memory beside the gather's " +
         std::to_string(kGatherScratchBytes) + "-byte scratch (" + std::to_string(kBlockSharedBytes) +
         " bytes in all); train without --data-on-gpu";
}

DeviceDataset::DeviceDataset(const Dataset& data) : data_(data) {
  if (data.images.rank() != 4) throw std::invalid_argument("DeviceDataset: images must be N x C x H x W");
  if (const std::string problem =
          gather_shared_memory_problem(data.images.dim(1), data.images.dim(2), data.images.dim(3));
      !problem.empty())
    throw std::invalid_argument(problem);
  const std::vector<std::uint8_t> bytes = images_as_bytes(data);
  require_cuda("keeping the dataset on the GPU");
  Tensor staged = Tensor::uninitialized({std::int64_t((bytes.size() + 3) / 4)});
  std::copy(bytes.begin(), bytes.end(), reinterpret_cast<std::uint8_t*>(staged.data()));
  pixels_ = staged.to(DeviceTag::cuda);
  bytes_ = std::int64_t(bytes.size());
}

#ifndef FLOPSLAB_HAVE_CUDA  // the CPU-only build's stand-in of the GPU half (nn/device.h's no_cuda)
Batch DeviceDataset::gather(const BatchPlan&) const { no_cuda("DeviceDataset::gather"); }
#endif

}  // namespace flopslab::nn
