// What nn/device.h says on every build; the CUDA calls are in device.cu, or in
// device_none.cpp for a build without CUDA.
#include <algorithm>
#include <atomic>
#include <stdexcept>

#include "nn/device.h"

#include "nn/cuda/ops.h"
#include "nn/layers.h"

namespace flopslab::nn {

static const char* device_tag_name(DeviceTag device) { return device == DeviceTag::cpu ? "cpu" : "cuda"; }

DeviceTag parse_device_tag(const std::string& name) {
  if (name == "cpu") return DeviceTag::cpu;
  if (name == "cuda") return DeviceTag::cuda;
  throw std::invalid_argument("unknown device '" + name + "' (valid: cpu, cuda)");
}

const char* copy_direction_name(CopyDirection direction) {
  switch (direction) {
    case CopyDirection::host_to_device: return "host to device";
    case CopyDirection::device_to_host: return "device to host";
    case CopyDirection::device_to_device: return "device to device";
  }
  return "?";
}

namespace {
std::atomic<std::int64_t> launches{0};
}
std::int64_t gpu_launches() { return launches.load(std::memory_order_relaxed); }
void count_gpu_launches(std::int64_t n) { launches.fetch_add(n, std::memory_order_relaxed); }

void copy_rows(DeviceTag device, float* dst, std::int64_t dst_stride, const float* src, std::int64_t src_stride,
               std::int64_t width, std::int64_t rows) {
  if (device == DeviceTag::cuda) return detail::copy_rows_cuda(dst, dst_stride, src, src_stride, width, rows);
  for (std::int64_t r = 0; r < rows; ++r) std::copy_n(src + r * src_stride, width, dst + r * dst_stride);
}

void add_into(Tensor& into, const Tensor& add) {
  if (!into.same_shape(add) || into.device() != add.device())
    throw std::invalid_argument("add_into: " + into.shape_string() + " on " + device_tag_name(into.device()) + " and " +
                                add.shape_string() + " on " + device_tag_name(add.device()));
  if (into.on_cuda()) return gpu::add_in_place(into.data(), add.data(), into.size());
  float* a = into.data();
  const float* b = add.data();
  for (std::int64_t i = 0; i < into.size(); ++i) a[i] += b[i];
}

std::string layers_without_gpu_half(Module& model) {
  if (model.runs_on_cuda()) return {};
  auto* seq = dynamic_cast<Sequential*>(&model);
  if (seq == nullptr) return model.describe();
  std::string missing;
  for (const ModulePtr& layer : seq->layers)
    if (!layer->runs_on_cuda()) {
      if (!missing.empty()) missing += ", ";
      missing += layer->describe();
    }
  return missing;
}

void move_to(Module& model, DeviceTag device) {
  if (device == DeviceTag::cuda) {
    require_cuda("moving the model to the GPU");
    if (const std::string missing = layers_without_gpu_half(model); !missing.empty())
      throw std::invalid_argument("this model cannot run on the GPU yet: no GPU half for " + missing);
  }
  for (Parameter* p : model.parameter_list()) {
    p->value = p->value.to(device);
    if (!p->grad.empty()) p->grad = p->grad.to(device);
  }
  for (const Buffer& b : model.buffers()) *b.value = b.value->to(device);
}

}  // namespace flopslab::nn
