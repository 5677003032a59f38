// Device memory, streams and CUDA-event timing for the GPU probes and sweeps. The header needs
// no CUDA headers; streams are passed as void*.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "harness/timing.h"

namespace flopslab::bench {

struct GpuMemory {
  std::int64_t free_bytes = 0, total_bytes = 0;
};
GpuMemory gpu_memory();

// cudaMalloc'd memory, freed on destruction. A failed allocation throws with the size asked
// and the memory free, never returns null.
class DeviceBuffer {
 public:
  explicit DeviceBuffer(std::int64_t bytes);
  ~DeviceBuffer();
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  void* data() const { return data_; }
  template <class T>
  T* as() const {
    return static_cast<T*>(data_);
  }
  std::int64_t bytes() const { return bytes_; }
  void upload(const void* host, std::int64_t bytes);
  void download(void* host, std::int64_t bytes) const;

 private:
  void* data_ = nullptr;
  std::int64_t bytes_ = 0;
};

// The host memory kinds a CPU-GPU copy can start from.
enum class HostMemory { pageable, pinned, write_combined, registered };
const char* host_memory_name(HostMemory kind);

class HostBuffer {
 public:
  HostBuffer(std::int64_t bytes, HostMemory kind);
  ~HostBuffer();
  HostBuffer(const HostBuffer&) = delete;
  HostBuffer& operator=(const HostBuffer&) = delete;
  void* data() const { return data_; }

 private:
  void* data_ = nullptr;
  HostMemory kind_;
};

class GpuStream {
 public:
  GpuStream();
  ~GpuStream();
  GpuStream(const GpuStream&) = delete;
  GpuStream& operator=(const GpuStream&) = delete;
  void* get() const { return stream_; }
  void synchronize() const;

 private:
  void* stream_ = nullptr;
};

enum class CopyKind { host_to_device, device_to_host, device_to_device };
const char* copy_kind_name(CopyKind kind);  // "H2D", "D2H", "D2D"
// cudaMemcpyAsync on a stream, and the synchronous cudaMemcpy.
void copy_async(void* dst, const void* src, std::int64_t bytes, CopyKind kind, void* stream);
void copy_sync(void* dst, const void* src, std::int64_t bytes, CopyKind kind);

class GpuEvent {
 public:
  GpuEvent();
  ~GpuEvent();
  GpuEvent(const GpuEvent&) = delete;
  GpuEvent& operator=(const GpuEvent&) = delete;
  void record(void* stream);
  void synchronize();
  double seconds_since(const GpuEvent& start) const;  // both recorded and complete

 private:
  void* event_ = nullptr;
};

// A CUDA graph: the launches `capture` makes on a stream, recorded once and replayed whole.
class GpuGraph {
 public:
  GpuGraph(const std::function<void(void* stream)>& capture, void* stream);
  ~GpuGraph();
  GpuGraph(const GpuGraph&) = delete;
  GpuGraph& operator=(const GpuGraph&) = delete;
  void launch(void* stream);

 private:
  void* graph_ = nullptr;
  void* exec_ = nullptr;
};

// Times GPU work with CUDA events recorded on `stream` around each batch of launches, after
// the stream is synchronised, through the same statistics as CPU timing (harness/timing.h).
// With an L2 flush, every call is timed alone after the flush, so no call finds its data in L2.
Timing measure_gpu(const std::function<void(void* stream)>& launch, void* stream, const TimingOptions& options,
                   bool flush_l2 = false);

void gpu_synchronize();

}  // namespace flopslab::bench
