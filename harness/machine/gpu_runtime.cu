// Device discovery through the CUDA runtime, plus NVML for the live clocks and the PCIe link.
// With the toolkit but no driver, cudaGetDeviceCount fails with cudaErrorInsufficientDriver
// rather than cudaErrorNoDevice; any error there means "no usable GPU", and its text becomes
// the reason. NVML ships with the driver, not the toolkit, so it is loaded with dlopen and
// only the few functions used are declared; without it the link comes from sysfs.
// (No fmt in .cu files: nvcc's front end rejects fmt 9's compile-time format checks.)
#include <cuda_runtime.h>
#include "kernels/shared_library.h"

#include <algorithm>
#include <cstdlib>
#include <type_traits>
#include <cctype>
#include <fstream>
#include <string>

#include "harness/machine/gpu_runtime.h"

namespace flopslab::bench {
namespace {

// The slice of NVML's C API used here (nvml.h is not in the toolkit).
struct Nvml {
  using Device = void*;
  int (*init)() = nullptr;
  int (*by_bus_id)(const char*, Device*) = nullptr;
  int (*clock)(Device, int, unsigned*) = nullptr;
  int (*gen)(Device, unsigned*) = nullptr;
  int (*width)(Device, unsigned*) = nullptr;
  int (*gen_max)(Device, unsigned*) = nullptr;
  int (*width_max)(Device, unsigned*) = nullptr;
  bool ok = false;
  std::string why;

  Nvml() {
    SharedLibrary lib("libnvidia-ml.so.1");
    if (!lib.loaded()) {
      why = "NVML not found (libnvidia-ml.so.1 comes with the driver)";
      return;
    }
    lib.bind(init, "nvmlInit_v2");
    lib.bind(by_bus_id, "nvmlDeviceGetHandleByPciBusId_v2");
    lib.bind(clock, "nvmlDeviceGetClockInfo");
    lib.bind(gen, "nvmlDeviceGetCurrPcieLinkGeneration");
    lib.bind(width, "nvmlDeviceGetCurrPcieLinkWidth");
    lib.bind(gen_max, "nvmlDeviceGetMaxPcieLinkGeneration");
    lib.bind(width_max, "nvmlDeviceGetMaxPcieLinkWidth");
    if (!lib.first_missing().empty()) {
      why = "NVML lacks " + lib.first_missing() + ", which flopslab uses";
      return;
    }
    ok = init() == 0;
    if (!ok) why = "nvmlInit failed";
  }
};

constexpr int kNvmlClockSm = 1, kNvmlClockMem = 2;

std::string read_line(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

// "32.0 GT/s PCIe" -> 5; "16" -> 16.
int generation_from_speed(const std::string& speed) {
  const double gts = std::atof(speed.c_str());
  if (gts >= 60) return 6;
  if (gts >= 30) return 5;
  if (gts >= 15) return 4;
  if (gts >= 7.5) return 3;
  if (gts >= 4.5) return 2;
  if (gts >= 2) return 1;
  return 0;
}

void read_link(GpuDevice& d, Nvml& nvml) {
  if (nvml.ok) {
    Nvml::Device handle = nullptr;
    if (nvml.by_bus_id(d.pci_bus_id.c_str(), &handle) == 0) {
      unsigned v = 0;
      if (nvml.clock(handle, kNvmlClockSm, &v) == 0) d.sm_clock_mhz = int(v);
      if (nvml.clock(handle, kNvmlClockMem, &v) == 0) d.memory_clock_mhz = int(v);
      unsigned g = 0, w = 0, gm = 0, wm = 0;
      if (nvml.gen(handle, &g) == 0 && nvml.width(handle, &w) == 0 && nvml.gen_max(handle, &gm) == 0 &&
          nvml.width_max(handle, &wm) == 0 && g > 0 && w > 0) {
        d.pcie_gen = int(g), d.pcie_width = int(w), d.pcie_gen_max = int(gm), d.pcie_width_max = int(wm);
        d.link_source = "NVML";
        return;
      }
    }
  }
  std::string bus = d.pci_bus_id;
  std::transform(bus.begin(), bus.end(), bus.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  const std::string dir = "/sys/bus/pci/devices/" + bus + "/";
  const int gen = generation_from_speed(read_line(dir + "current_link_speed"));
  const int width = std::atoi(read_line(dir + "current_link_width").c_str());
  if (gen > 0 && width > 0) {
    d.pcie_gen = gen, d.pcie_width = width;
    d.pcie_gen_max = generation_from_speed(read_line(dir + "max_link_speed"));
    d.pcie_width_max = std::atoi(read_line(dir + "max_link_width").c_str());
    d.link_source = "sysfs";
    return;
  }
  d.link_source = (nvml.ok ? std::string("NVML gave no link") : nvml.why) + "; sysfs has no link for " + bus;
}

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
  Nvml nvml;
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
    d.memory_bus_bits = p.memoryBusWidth;
    d.l2_bytes = p.l2CacheSize;
    d.shared_per_sm_bytes = static_cast<std::int64_t>(p.sharedMemPerMultiprocessor);
    d.max_threads_per_sm = p.maxThreadsPerMultiProcessor;
    d.integrated = p.integrated != 0;
    d.pageable_memory_access = p.pageableMemoryAccess != 0;
    d.uses_host_page_tables = p.pageableMemoryAccessUsesHostPageTables != 0;
    d.host_native_atomics = p.hostNativeAtomicSupported != 0;
    int khz = 0;
    if (cudaDeviceGetAttribute(&khz, cudaDevAttrClockRate, i) == cudaSuccess) d.sm_clock_max_mhz = khz / 1000;
    if (cudaDeviceGetAttribute(&khz, cudaDevAttrMemoryClockRate, i) == cudaSuccess) d.memory_clock_max_mhz = khz / 1000;
    char bus[32] = {};
    if (cudaDeviceGetPCIBusId(bus, sizeof bus, i) == cudaSuccess) d.pci_bus_id = bus;
    read_link(d, nvml);
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
