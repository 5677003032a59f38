// Device memory, streams and event timing for the GPU probes and sweeps (the CUDA half of
// gpu_tools.h).
#include <cuda_runtime.h>

#include <cstdlib>
#include <new>
#include <string>

#include "harness/files.h"
#include "harness/machine/gpu_runtime.h"
#include "harness/gpu_tools.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/probes/gpu_probes.h"
#include "harness/format.h"

namespace flopslab::bench {

GpuMemory gpu_memory() {
  size_t free = 0, total = 0;
  FLOPSLAB_CUDA_CHECK(cudaMemGetInfo(&free, &total));
  return {std::int64_t(free), std::int64_t(total)};
}

DeviceBuffer::DeviceBuffer(std::int64_t bytes) : bytes_(bytes) {
  if (bytes <= 0) return;
  const cudaError_t status = cudaMalloc(&data_, static_cast<size_t>(bytes));
  if (status != cudaSuccess) {
    (void)cudaGetLastError();
    data_ = nullptr;
    size_t free = 0, total = 0;
    cudaMemGetInfo(&free, &total);
    throw cuda::CudaError(status, "cudaMalloc of " + format_bytes(double(bytes)) + " failed: " +
                                      cudaGetErrorString(status) + " (" + format_bytes(double(free)) + " free of " +
                                      format_bytes(double(total)) + ")");
  }
}

DeviceBuffer::~DeviceBuffer() {
  if (data_ != nullptr) cudaFree(data_);
}

void DeviceBuffer::upload(const void* host, std::int64_t bytes) {
  FLOPSLAB_CUDA_CHECK(cudaMemcpy(data_, host, static_cast<size_t>(bytes), cudaMemcpyHostToDevice));
  // From pageable memory cudaMemcpy may return once the bytes are staged, before the DMA has
  // landed, and it is ordered on the default stream only: the sweeps then use the buffer on
  // streams of their own. Waiting here makes the data there for every stream.
  FLOPSLAB_CUDA_CHECK(cudaDeviceSynchronize());
}

void DeviceBuffer::download(void* host, std::int64_t bytes) const {
  FLOPSLAB_CUDA_CHECK(cudaMemcpy(host, data_, static_cast<size_t>(bytes), cudaMemcpyDeviceToHost));
}

const char* host_memory_name(HostMemory kind) {
  switch (kind) {
    case HostMemory::pageable: return "pageable";
    case HostMemory::pinned: return "pinned";
    case HostMemory::write_combined: return "write-combined";
    case HostMemory::registered: return "registered";
  }
  return "?";
}

HostBuffer::HostBuffer(std::int64_t bytes, HostMemory kind) : kind_(kind) {
  const size_t n = static_cast<size_t>(bytes);
  switch (kind) {
    case HostMemory::pageable:
    case HostMemory::registered:
      data_ = std::aligned_alloc(4096, (n + 4095) / 4096 * 4096);
      if (data_ == nullptr) throw std::bad_alloc();
      for (size_t i = 0; i < n; i += 4096) static_cast<char*>(data_)[i] = 1;  // fault the pages in
      if (kind == HostMemory::registered) FLOPSLAB_CUDA_CHECK(cudaHostRegister(data_, n, cudaHostRegisterDefault));
      break;
    case HostMemory::pinned:
      FLOPSLAB_CUDA_CHECK(cudaMallocHost(&data_, n));
      break;
    case HostMemory::write_combined:
      FLOPSLAB_CUDA_CHECK(cudaHostAlloc(&data_, n, cudaHostAllocWriteCombined));
      break;
  }
}

HostBuffer::~HostBuffer() {
  if (data_ == nullptr) return;
  switch (kind_) {
    case HostMemory::registered: cudaHostUnregister(data_); [[fallthrough]];
    case HostMemory::pageable: std::free(data_); break;
    case HostMemory::pinned:
    case HostMemory::write_combined: cudaFreeHost(data_); break;
  }
}

GpuStream::GpuStream() {
  cudaStream_t s = nullptr;
  FLOPSLAB_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  stream_ = s;
}
GpuStream::~GpuStream() { cudaStreamDestroy(static_cast<cudaStream_t>(stream_)); }
void GpuStream::synchronize() const { FLOPSLAB_CUDA_CHECK(cudaStreamSynchronize(static_cast<cudaStream_t>(stream_))); }

void gpu_synchronize() { FLOPSLAB_CUDA_CHECK(cudaDeviceSynchronize()); }

const char* copy_kind_name(CopyKind kind) {
  return kind == CopyKind::host_to_device ? "H2D" : kind == CopyKind::device_to_host ? "D2H" : "D2D";
}

namespace {
cudaMemcpyKind to_cuda(CopyKind kind) {
  return kind == CopyKind::host_to_device   ? cudaMemcpyHostToDevice
         : kind == CopyKind::device_to_host ? cudaMemcpyDeviceToHost
                                            : cudaMemcpyDeviceToDevice;
}
}  // namespace

void copy_async(void* dst, const void* src, std::int64_t bytes, CopyKind kind, void* stream) {
  FLOPSLAB_CUDA_CHECK(cudaMemcpyAsync(dst, src, size_t(bytes), to_cuda(kind), static_cast<cudaStream_t>(stream)));
}

void copy_sync(void* dst, const void* src, std::int64_t bytes, CopyKind kind) {
  FLOPSLAB_CUDA_CHECK(cudaMemcpy(dst, src, size_t(bytes), to_cuda(kind)));
}

GpuEvent::GpuEvent() {
  cudaEvent_t e = nullptr;
  FLOPSLAB_CUDA_CHECK(cudaEventCreate(&e));
  event_ = e;
}
GpuEvent::~GpuEvent() { cudaEventDestroy(static_cast<cudaEvent_t>(event_)); }
void GpuEvent::record(void* stream) {
  FLOPSLAB_CUDA_CHECK(cudaEventRecord(static_cast<cudaEvent_t>(event_), static_cast<cudaStream_t>(stream)));
}
void GpuEvent::synchronize() { FLOPSLAB_CUDA_CHECK(cudaEventSynchronize(static_cast<cudaEvent_t>(event_))); }
double GpuEvent::seconds_since(const GpuEvent& start) const {
  float ms = 0;
  FLOPSLAB_CUDA_CHECK(cudaEventElapsedTime(&ms, static_cast<cudaEvent_t>(start.event_), static_cast<cudaEvent_t>(event_)));
  return ms * 1e-3;
}

GpuGraph::GpuGraph(const std::function<void(void*)>& capture, void* stream) {
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  FLOPSLAB_CUDA_CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
  capture(stream);
  cudaGraph_t graph = nullptr;
  FLOPSLAB_CUDA_CHECK(cudaStreamEndCapture(s, &graph));
  graph_ = graph;
  cudaGraphExec_t exec = nullptr;
  FLOPSLAB_CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
  exec_ = exec;
}
GpuGraph::~GpuGraph() {
  if (exec_ != nullptr) cudaGraphExecDestroy(static_cast<cudaGraphExec_t>(exec_));
  if (graph_ != nullptr) cudaGraphDestroy(static_cast<cudaGraph_t>(graph_));
}
void GpuGraph::launch(void* stream) {
  FLOPSLAB_CUDA_CHECK(cudaGraphLaunch(static_cast<cudaGraphExec_t>(exec_), static_cast<cudaStream_t>(stream)));
}

namespace {
struct Events {
  cudaEvent_t start = nullptr, stop = nullptr;
  Events() {
    FLOPSLAB_CUDA_CHECK(cudaEventCreate(&start));
    FLOPSLAB_CUDA_CHECK(cudaEventCreate(&stop));
  }
  ~Events() {
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
  }
};
}  // namespace

Timing measure_gpu(const std::function<void(void*)>& launch, void* stream, const TimingOptions& options, bool flush_l2) {
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  Events events;
  std::int64_t flush_bytes = 0;
  if (flush_l2 && gpu_status().usable) flush_bytes = std::max<std::int64_t>(2 * gpu_status().devices.front().l2_bytes, 8 << 20);
  DeviceBuffer scrub(flush_bytes);
  FLOPSLAB_CUDA_CHECK(cudaStreamSynchronize(s));
  return measure_batches(
      [&](int calls) {
        double total_ms = 0;
        const int rounds = flush_l2 ? calls : 1;
        const int per_round = flush_l2 ? 1 : calls;
        for (int r = 0; r < rounds; ++r) {
          if (flush_l2) probes::gpu::launch_scrub(scrub.data(), flush_bytes, stream);
          FLOPSLAB_CUDA_CHECK(cudaEventRecord(events.start, s));
          for (int i = 0; i < per_round; ++i) launch(stream);
          FLOPSLAB_CUDA_CHECK(cudaEventRecord(events.stop, s));
          FLOPSLAB_CUDA_CHECK(cudaEventSynchronize(events.stop));
          float ms = 0;
          FLOPSLAB_CUDA_CHECK(cudaEventElapsedTime(&ms, events.start, events.stop));
          total_ms += ms;
        }
        return total_ms * 1e-3;
      },
      options);
}

}  // namespace flopslab::bench
