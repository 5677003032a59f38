// Device discovery through the CUDA runtime. With the toolkit but no driver,
// cudaGetDeviceCount fails with cudaErrorInsufficientDriver rather than cudaErrorNoDevice;
// any error there means "no usable GPU", and its text becomes the reason.
// (No fmt in .cu files: nvcc's front end rejects fmt 9's compile-time format checks.)
#include <cuda_runtime.h>

#include <string>

#include "bench/gpu/gpu_runtime.h"

namespace flopslab::bench {
namespace {

GpuStatus query() {
  GpuStatus s;
  s.built = true;
  int count = 0;
  if (const cudaError_t err = cudaGetDeviceCount(&count); err != cudaSuccess) {
    s.reason = std::string(cudaGetErrorString(err)) + " (" + cudaGetErrorName(err) + ")";
    (void)cudaGetLastError();  // clear the sticky error
    return s;
  }
  if (count == 0) {
    s.reason = "the CUDA driver reports no devices";
    return s;
  }
  int runtime = 0, driver = 0;
  cudaRuntimeGetVersion(&runtime);
  cudaDriverGetVersion(&driver);
  auto version = [](int v) { return std::to_string(v / 1000) + "." + std::to_string(v % 1000 / 10); };
  s.runtime = "CUDA runtime " + version(runtime) + ", driver " + version(driver);
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp p{};
    if (cudaGetDeviceProperties(&p, i) != cudaSuccess) continue;
    GpuDevice d;
    d.index = i;
    d.name = p.name;
    d.cc_major = p.major;
    d.cc_minor = p.minor;
    d.sm_count = p.multiProcessorCount;
    d.memory_bytes = static_cast<std::int64_t>(p.totalGlobalMem);
    char bus[32] = {};
    if (cudaDeviceGetPCIBusId(bus, sizeof bus, i) == cudaSuccess) d.pci_bus_id = bus;
    s.devices.push_back(d);
  }
  s.usable = !s.devices.empty();
  if (!s.usable) s.reason = "no device answered cudaGetDeviceProperties";
  return s;
}

}  // namespace

const GpuStatus& gpu_status() {
  static const GpuStatus status = query();
  return status;
}

}  // namespace flopslab::bench
