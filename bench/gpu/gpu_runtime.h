// Which NVIDIA GPUs this process can use, and why not when it cannot. Built from
// gpu_runtime.cu when CUDA was found at configure time, from gpu_runtime_none.cpp otherwise.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bench/json.h"

namespace flopslab::bench {

struct GpuDevice {
  int index = 0;
  std::string name;               // "NVIDIA H100 80GB HBM3"
  int cc_major = 0, cc_minor = 0; // compute capability
  int sm_count = 0;
  std::int64_t memory_bytes = 0;
  std::string pci_bus_id;         // "0000:c1:00.0"
};

struct GpuStatus {
  bool built = false;   // this binary has CUDA code in it
  bool usable = false;  // ... and at least one device answered
  std::string reason;   // why not usable: the CUDA error string, or "built without CUDA"
  std::string runtime;  // "CUDA runtime 13.0, driver 13.0" when known
  std::vector<GpuDevice> devices;
};

// Asked once per process, then cached.
const GpuStatus& gpu_status();

// "NVIDIA H100 80GB HBM3 (sm_90, 132 SMs, 79.1 GiB)" per device, or the reason there is none.
std::string gpu_summary(const GpuStatus& status);
Json gpu_json(const GpuStatus& status);

}  // namespace flopslab::bench
