// nn/device.h and the device storage of nn/memory.h in a build without CUDA: no GPU can be
// used, and every call that would need one says so.
#include <stdexcept>
#include <string>

#include "nn/device.h"
#include "nn/distributed.h"
#include "nn/memory.h"

namespace flopslab::nn {
namespace {
constexpr const char* kNoCuda = "this build has no CUDA (no nvcc was found when it was configured)";
}  // namespace

void no_cuda(const std::string& what) { throw std::runtime_error(what + ": " + kNoCuda); }

const char* cuda_unusable() { return kNoCuda; }
void require_cuda(const std::string& what) { no_cuda(what); }
void* cuda_stream() { no_cuda("the CUDA stream"); }
std::int64_t gpu_free_bytes() { return 0; }
void cuda_synchronize() { no_cuda("cuda_synchronize"); }
void copy_floats(CopyDirection direction, float*, const float*, std::int64_t) {
  no_cuda(std::string("a copy from ") + copy_direction_name(direction));
}
void device_fill(float*, std::int64_t, float) { no_cuda("device_fill"); }
namespace detail {
void copy_rows_cuda(float*, std::int64_t, const float*, std::int64_t, std::int64_t, std::int64_t) {
  no_cuda("copy_rows");
}
}  // namespace detail

PinnedUploader::~PinnedUploader() = default;
void PinnedUploader::start(const Tensor&) { no_cuda("PinnedUploader"); }
Tensor PinnedUploader::take() { no_cuda("PinnedUploader"); }

namespace memory {
float* allocate_device_floats(std::int64_t) { no_cuda("a CUDA tensor"); }
void free_device_floats(float*, std::int64_t) {}
BlockCache::Stats device_cache_stats() { return {}; }
int begin_device_pool() { no_cuda("a device memory pool"); }
void end_device_pool() {}
void close_device_pool(int) {}
}  // namespace memory
}  // namespace flopslab::nn
