// The GPU half of harness/counters.h: the bytes one call moved to and from the GPU's DRAM (HBM
// or GDDR), read from the GPU's own counters through CUPTI's range profiler (CUDA 12.6 and
// later): dram__bytes_read.sum and dram__bytes_write.sum over the call. The roofline places a
// GPU kernel at this measured intensity beside the model's.
//
// libcupti is opened at run time, as NVML is (it ships with the toolkit, not the driver, and a
// binary that needed it would not start without it). Where it is missing, the GPU does not
// support the profiler, or the driver keeps the counters to administrators
// (NVreg_RestrictProfilingToAdminUsers), available() is false and reason() says which and what
// to do; callers carry on without the measured bytes.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace flopslab::bench {

struct GpuDramBytes {
  double read = 0, written = 0;
  double total() const { return read + written; }
};

class GpuCounters {
 public:
  // Opens CUPTI once per process, for the current device (later calls reuse the answer).
  static GpuCounters& instance();
  ~GpuCounters();
  bool available() const { return state_ != nullptr; }
  // Why there are no counts ("" while available).
  const std::string& reason() const { return reason_; }

  // Runs `launch` on `stream` once for each replay pass the two metrics need (one on the GPUs
  // seen so far), after an L2 flush when `flush_l2`, and returns what one call moved. Nothing
  // when unavailable; a failure while counting makes it unavailable, with the reason.
  std::optional<GpuDramBytes> count(const std::function<void(void* stream)>& launch, void* stream, bool flush_l2);

 private:
  GpuCounters();
  struct State;
  std::unique_ptr<State> state_;
  std::string reason_;
};

// "CUPTI range profiler (dram__bytes_read.sum + dram__bytes_write.sum)" when counting works,
// else why not: the text a sweep stores as its "counters".
std::string gpu_counters_description();

}  // namespace flopslab::bench
