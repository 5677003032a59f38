// The CUDA half of nn/device.h and of nn/memory.h's device storage.
// (No fmt in .cu files: nvcc's front end rejects fmt 9's compile-time format checks.)
#include <cuda_runtime.h>

#include <algorithm>
#include <mutex>
#include <stdexcept>
#include <string>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/workspace.h"
#include "nn/cuda/ops.h"
#include "nn/device.h"
#include "nn/memory.h"

namespace flopslab::nn {
namespace {

std::string find_unusable_reason() {
  int count = 0;
  if (const cudaError_t err = cudaGetDeviceCount(&count); err != cudaSuccess) {
    (void)cudaGetLastError();  // clear the sticky error
    return std::string("no usable GPU: ") + cudaGetErrorString(err) + " (" + cudaGetErrorName(err) + ")";
  }
  if (count == 0) return "no usable GPU: the CUDA driver reports no devices";
  // The device this process uses (a data-parallel rank's, set before any other CUDA call).
  int device = 0;
  if (const cudaError_t err = cudaGetDevice(&device); err != cudaSuccess) {
    (void)cudaGetLastError();
    return std::string("no usable GPU: ") + cudaGetErrorString(err);
  }
  cudaDeviceProp p{};
  if (const cudaError_t err = cudaGetDeviceProperties(&p, device); err != cudaSuccess) {
    (void)cudaGetLastError();
    return std::string("no usable GPU: ") + cudaGetErrorString(err);
  }
  if (!compute_capability_supported(p.major, p.minor))
    return "the GPU " + std::string(p.name) + " (device " + std::to_string(device) + ") has compute capability " +
           std::to_string(p.major) + "." + std::to_string(p.minor) + "; this build needs 7.5 or later";
  return "";
}

cudaStream_t& stream_slot() {
  static cudaStream_t stream = [] {
    cudaStream_t s = nullptr;
    FLOPSLAB_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    return s;
  }();
  return stream;
}

void* raw_device_allocate(std::size_t bytes) {
  void* p = nullptr;
  if (cudaMalloc(&p, bytes) != cudaSuccess) {
    (void)cudaGetLastError();
    return nullptr;
  }
  return p;
}
void raw_device_release(void* p) { (void)cudaFree(p); }

memory::BlockCache& device_cache() {
  // Never destroyed: tensors may outlive static destructors, and the CUDA context may be gone
  // by then.
  static memory::BlockCache* cache = [] {
    memory::BlockCache* made = memory::make_device_cache({raw_device_allocate, raw_device_release});
    // A kernel's workspace that cudaMalloc refuses gets the parked blocks back first.
    flopslab::cuda::set_memory_reclaimer([] { device_cache().empty(); });
    return made;
  }();
  return *cache;
}

__global__ void fill_kernel(float* dst, std::int64_t count, float value) {
  for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < count;
       i += std::int64_t(gridDim.x) * blockDim.x)
    dst[i] = value;
}

}  // namespace

const char* cuda_unusable() {
  static const std::string reason = find_unusable_reason();
  return reason.empty() ? nullptr : reason.c_str();
}

void require_cuda(const std::string& what) {
  if (const char* why = cuda_unusable()) throw std::runtime_error(what + ": " + why);
}

void* cuda_stream() { return stream_slot(); }

std::int64_t gpu_free_bytes() {
  if (cuda_unusable() != nullptr) return 0;
  std::size_t free_bytes = 0, total = 0;
  if (cudaMemGetInfo(&free_bytes, &total) != cudaSuccess) {
    (void)cudaGetLastError();
    return 0;
  }
  return std::int64_t(free_bytes);
}

void cuda_synchronize() { FLOPSLAB_CUDA_CHECK(cudaStreamSynchronize(stream_slot())); }

void copy_floats(CopyDirection direction, float* dst, const float* src, std::int64_t count) {
  if (count <= 0) return;
  const cudaMemcpyKind kind = direction == CopyDirection::host_to_device   ? cudaMemcpyHostToDevice
                              : direction == CopyDirection::device_to_host ? cudaMemcpyDeviceToHost
                                                                           : cudaMemcpyDeviceToDevice;
  FLOPSLAB_CUDA_CHECK(cudaMemcpyAsync(dst, src, std::size_t(count) * sizeof(float), kind, stream_slot()));
  // The host reads what it asked for, and a pageable source may be reused once this returns.
  if (direction != CopyDirection::device_to_device) cuda_synchronize();
}

namespace detail {
void copy_rows_cuda(float* dst, std::int64_t dst_stride, const float* src, std::int64_t src_stride,
                    std::int64_t width, std::int64_t rows) {
  if (rows <= 0 || width <= 0) return;
  FLOPSLAB_CUDA_CHECK(cudaMemcpy2DAsync(dst, std::size_t(dst_stride) * sizeof(float), src,
                                        std::size_t(src_stride) * sizeof(float), std::size_t(width) * sizeof(float),
                                        std::size_t(rows), cudaMemcpyDeviceToDevice, stream_slot()));
}
}  // namespace detail

PinnedUploader::~PinnedUploader() {
  for (Slot& slot : slots_) {
    if (slot.copied != nullptr) {
      (void)cudaEventSynchronize(static_cast<cudaEvent_t>(slot.copied));
      (void)cudaEventDestroy(static_cast<cudaEvent_t>(slot.copied));
    }
    if (slot.pinned != nullptr) (void)cudaFreeHost(slot.pinned);
  }
  if (queued_ != nullptr) (void)cudaEventDestroy(static_cast<cudaEvent_t>(queued_));
  if (copy_stream_ != nullptr) (void)cudaStreamDestroy(static_cast<cudaStream_t>(copy_stream_));
}

void PinnedUploader::start(const Tensor& host) {
  if (host.on_cuda()) throw std::invalid_argument("PinnedUploader: the tensor is on the GPU already");
  if (in_flight_ == 2) throw std::logic_error("PinnedUploader: two copies are in flight already; take() one first");
  auto make_event = [](void*& slot) {
    if (slot != nullptr) return;
    cudaEvent_t event = nullptr;
    FLOPSLAB_CUDA_CHECK(cudaEventCreateWithFlags(&event, cudaEventDisableTiming));
    slot = event;
  };
  if (copy_stream_ == nullptr) {
    cudaStream_t s = nullptr;
    FLOPSLAB_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    copy_stream_ = s;
  }
  make_event(queued_);
  Slot& slot = slots_[(next_ + in_flight_) % 2];
  if (slot.copied == nullptr)
    make_event(slot.copied);
  else
    FLOPSLAB_CUDA_CHECK(cudaEventSynchronize(static_cast<cudaEvent_t>(slot.copied)));  // the buffer is free again
  if (host.size() > slot.capacity) {
    if (slot.pinned != nullptr) FLOPSLAB_CUDA_CHECK(cudaFreeHost(slot.pinned));
    slot.pinned = nullptr, slot.capacity = 0;
    void* p = nullptr;
    FLOPSLAB_CUDA_CHECK(cudaHostAlloc(&p, std::size_t(host.size()) * sizeof(float), cudaHostAllocDefault));
    slot.pinned = static_cast<float*>(p), slot.capacity = host.size();
  }
  std::copy_n(host.data(), host.size(), slot.pinned);
  const auto copy = static_cast<cudaStream_t>(copy_stream_);
  slot.out = Tensor::uninitialized_on(DeviceTag::cuda, host.shape());
  FLOPSLAB_CUDA_CHECK(cudaEventRecord(static_cast<cudaEvent_t>(queued_), stream_slot()));
  FLOPSLAB_CUDA_CHECK(cudaStreamWaitEvent(copy, static_cast<cudaEvent_t>(queued_), 0));
  if (host.size() > 0)
    FLOPSLAB_CUDA_CHECK(cudaMemcpyAsync(slot.out.data(), slot.pinned, std::size_t(host.size()) * sizeof(float),
                                        cudaMemcpyHostToDevice, copy));
  FLOPSLAB_CUDA_CHECK(cudaEventRecord(static_cast<cudaEvent_t>(slot.copied), copy));
  ++in_flight_;
}

Tensor PinnedUploader::take() {
  if (in_flight_ == 0) throw std::logic_error("PinnedUploader: take() without a started copy");
  Slot& slot = slots_[next_];
  next_ = (next_ + 1) % 2, --in_flight_;
  FLOPSLAB_CUDA_CHECK(cudaStreamWaitEvent(stream_slot(), static_cast<cudaEvent_t>(slot.copied), 0));
  return std::move(slot.out);
}

void device_fill(float* dst, std::int64_t count, float value) {
  if (count <= 0) return;
  if (value == 0.0f) {
    FLOPSLAB_CUDA_CHECK(cudaMemsetAsync(dst, 0, std::size_t(count) * sizeof(float), stream_slot()));
    return;
  }
  const unsigned blocks = unsigned(std::min<std::int64_t>((count + 255) / 256, 4096));
  fill_kernel<<<blocks, 256, 0, stream_slot()>>>(dst, count, value);
  FLOPSLAB_NN_LAUNCHED();
}

namespace memory {

float* allocate_device_floats(std::int64_t floats) {
  require_cuda("a CUDA tensor");
  const std::size_t bytes = std::size_t(std::max<std::int64_t>(floats, 1)) * sizeof(float);
  void* p = device_cache().allocate(bytes);
  if (p == nullptr) {
    std::size_t free_bytes = 0, total = 0;
    (void)cudaMemGetInfo(&free_bytes, &total);
    throw std::runtime_error("out of GPU memory: a tensor of " + std::to_string(bytes >> 20) + " MiB does not fit (" +
                             std::to_string(free_bytes >> 20) + " of " + std::to_string(total >> 20) + " MiB free)");
  }
  count(floats * std::int64_t(sizeof(float)), DeviceTag::cuda);
  return static_cast<float*>(p);
}

void free_device_floats(float* p, std::int64_t floats) {
  const std::size_t bytes = std::size_t(std::max<std::int64_t>(floats, 1)) * sizeof(float);
  count(-floats * std::int64_t(sizeof(float)), DeviceTag::cuda);
  device_cache().release(p, bytes);
}

BlockCache::Stats device_cache_stats() { return device_cache().stats(); }
int begin_device_pool() { return device_cache().begin_pool(); }
void end_device_pool() { device_cache().end_pool(); }
void close_device_pool(int pool) { device_cache().close_pool(pool); }

}  // namespace memory
}  // namespace flopslab::nn
