// The GPU side of the training stack's tensors: whether this build's CUDA kernels can run
// here, copies that say which way they go, and the one stream every GPU layer launches on.
// Device storage comes from nn/memory.h's cache over cudaMalloc. Without CUDA in the build
// every call here but cuda_unusable() throws, naming that.
#pragma once

#include <cstdint>
#include <string>

#include "nn/module.h"
#include "nn/tensor.h"

namespace flopslab::nn {

// "cpu" or "cuda"; throws std::invalid_argument naming the valid ones otherwise.
DeviceTag parse_device_tag(const std::string& name);

// Null when a GPU can run this build's kernels; otherwise why not, in one line (the CUDA
// error when the runtime found no device or no driver, or that the build has no CUDA).
const char* cuda_unusable();
// Whether this build has code for a GPU of compute capability major.minor: machine code for
// 7.5 and 8.0 (which 8.6 and 8.9 also run) and PTX for 9.0 that later GPUs compile; nothing
// for 7.0 and older (Volta, Pascal).
inline bool compute_capability_supported(int major, int minor) { return major > 7 || (major == 7 && minor >= 5); }
// Throws std::runtime_error with cuda_unusable()'s reason, prefixed by `what`.
void require_cuda(const std::string& what);
// The CPU-only build's stand-ins of the GPU halves (each beside its own, under
// #ifndef FLOPSLAB_HAVE_CUDA) throw this, naming `what`. No tensor can be on the GPU there, so
// none is reached; one that is says why.
[[noreturn]] void no_cuda(const std::string& what);

enum class CopyDirection { host_to_device, device_to_host, device_to_device };
const char* copy_direction_name(CopyDirection direction);
// count floats from src to dst on the stack's stream; a copy to the host waits for it.
void copy_floats(CopyDirection direction, float* dst, const float* src, std::int64_t count);
void device_fill(float* dst, std::int64_t count, float value);
// rows x width floats from src (rows src_stride apart) to dst (dst_stride apart), on the
// device both live on: a channel slice of a concatenation.
void copy_rows(DeviceTag device, float* dst, std::int64_t dst_stride, const float* src, std::int64_t src_stride,
               std::int64_t width, std::int64_t rows);
// into += add, elementwise, on the device both live on (shapes must be equal).
void add_into(Tensor& into, const Tensor& add);
namespace detail {
void copy_rows_cuda(float* dst, std::int64_t dst_stride, const float* src, std::int64_t src_stride,
                    std::int64_t width, std::int64_t rows);  // device.cu
}
// Kernel launches issued by the GPU halves since the program started (a GEMM or convolution
// pass counts once, however many kernels its library launches): lesson 20's launches per step.
std::int64_t gpu_launches();
void count_gpu_launches(std::int64_t launches = 1);
// Bytes of GPU memory free now (cudaMemGetInfo); 0 without a usable GPU.
std::int64_t gpu_free_bytes();
// Waits until every kernel launched on the stack's stream has finished (timers need it).
void cuda_synchronize();
// The cudaStream_t (as void*) the GPU layers launch on.
void* cuda_stream();

// Host batches to the GPU through pinned staging buffers, on a copy stream of its own: the
// copy runs at the bus's pinned rate (lesson 08) and start() returns at once; take() makes
// the stack's stream wait for the copy, so only the kernels queued after it wait. Starting
// batch i+1 before launching batch i's kernels lets the copy cross while batch i computes.
// Two copies may be in flight (two staging buffers, used in turn). Each copy also waits for
// the work already queued on the stack's stream (the cache may hand it a block that work
// still reads), so the overlap comes from the order: start next, then launch current.
class PinnedUploader {
 public:
  PinnedUploader() = default;
  ~PinnedUploader();
  PinnedUploader(const PinnedUploader&) = delete;
  PinnedUploader& operator=(const PinnedUploader&) = delete;
  // Starts copying host (a CPU tensor) to a new CUDA tensor; std::logic_error when two copies
  // are in flight already.
  void start(const Tensor& host);
  // The oldest started copy's tensor; the stack's stream waits for the copy before the
  // kernels launched after this. std::logic_error when none was started.
  Tensor take();
  Tensor upload(const Tensor& host) {  // start, then take
    start(host);
    return take();
  }

 private:
  struct Slot {
    float* pinned = nullptr;
    std::int64_t capacity = 0;  // floats
    void* copied = nullptr;     // cudaEvent_t: the last copy out of `pinned` finished
    Tensor out;                 // that copy's destination, until taken
  };
  // (The CPU-only stand-in of the CUDA half leaves these unused.)
  Slot slots_[2];
  [[maybe_unused]] int next_ = 0, in_flight_ = 0;  // the slot for the next start; started and not taken
  [[maybe_unused]] void* copy_stream_ = nullptr;   // cudaStream_t
  [[maybe_unused]] void* queued_ = nullptr;        // cudaEvent_t: the stack's stream's work before a copy
};

// Moves every parameter (value and gradient) and buffer of `model` to `device`. Moving to the
// GPU throws std::runtime_error, before moving anything, when no GPU is usable or when a
// layer has no GPU half (naming it).
void move_to(Module& model, DeviceTag device);
// The layers of `model` that have no GPU half, described and separated by commas; empty when
// it can run on the GPU.
std::string layers_without_gpu_half(Module& model);

}  // namespace flopslab::nn
