// Which NVIDIA GPUs this process can use, and why not when it cannot. Built from
// gpu_runtime.cu when CUDA was found at configure time, from gpu_runtime_none.cpp otherwise.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "harness/json.h"

namespace flopslab::bench {

struct GpuDevice {
  int index = 0;
  std::string name;               // "NVIDIA H100 80GB HBM3"
  int cc_major = 0, cc_minor = 0; // compute capability
  int sm_count = 0;
  std::int64_t memory_bytes = 0;
  std::string pci_bus_id;         // "0000:c1:00.0"

  // From the CUDA runtime (peak values).
  int sm_clock_max_mhz = 0, memory_clock_max_mhz = 0, memory_bus_bits = 0;
  std::int64_t l2_bytes = 0, shared_per_sm_bytes = 0;
  int max_threads_per_sm = 0;
  // From NVML (loaded at run time when the driver has it), 0 when unknown.
  int sm_clock_mhz = 0, memory_clock_mhz = 0;
  // The PCIe link, current and maximum, from NVML or else sysfs; 0 when unknown.
  int pcie_gen = 0, pcie_width = 0, pcie_gen_max = 0, pcie_width_max = 0;
  std::string link_source;        // "NVML", "sysfs", or why neither answered
  // What the GPU can do with host memory (cudaDeviceProp). An integrated GPU (Jetson, DGX
  // Spark) shares the CPU's DRAM; a coherent link (Grace's NVLink-C2C) lets the GPU use the
  // CPU's page tables and do atomics on host memory; PCIe with HMM reads pageable memory too.
  bool integrated = false;
  bool pageable_memory_access = false;       // the GPU may read malloc'd memory directly
  bool uses_host_page_tables = false;        // ... through the CPU's own page tables (ATS)
  bool host_native_atomics = false;          // atomics on host memory over the link
};

// What connects the GPU to the CPU's memory: never "PCIe" when it is not.
enum class GpuLink { pcie, nvlink_c2c, integrated };
GpuLink gpu_link(const GpuDevice& device);
const char* gpu_link_name(GpuLink link);  // "PCIe", "NVLink-C2C", "integrated (shared DRAM)"
// NVLink-C2C's rated bandwidth per direction: NVIDIA gives 900 GB/s for both directions together.
constexpr double kNvlinkC2cGbytesPerDirection = 450;

// FP32 FMA lanes per SM by compute capability, or 0 when the table does not know the
// architecture (the runtime does not report it).
int fp32_lanes_per_sm(int cc_major, int cc_minor);
// Dense bf16 tensor-core FLOPs per clock per SM with float32 accumulation; 0 where the table has
// no figure (GeForce and workstation parts of one architecture differ, so only A100 and H100).
int tensor_bf16_flops_per_sm_clock(int cc_major, int cc_minor);

struct GpuPeaks {
  double fp32_gflops = 0;          // SMs x lanes x 2 x clock
  std::string fp32_formula;
  double memory_gbytes_per_s = 0;  // bus bytes x 2 (double data rate) x memory clock
  std::string memory_formula;
  double pcie_gbytes_per_s = 0;    // per direction, for the current host link (PCIe or NVLink-C2C; 0 integrated)
  std::string pcie_formula;        // names the link: "PCIe gen 5 x16: ...", "NVLink-C2C: ...", "none: ..." 
  // Dense tensor-core rates with float32 sums (0 where flopslab's table lacks the architecture):
  // bf16, and TF32 at half of it.
  double tensor_bf16_gflops = 0, tensor_tf32_gflops = 0;
  std::string tensor_formula;
};
GpuPeaks gpu_peaks(const GpuDevice& device);

// One direction of a PCIe link: GB/s per lane after line coding, by generation (0 if unknown).
double pcie_gbytes_per_lane(int generation);

// Fits t = latency + bytes / bandwidth to (bytes, seconds) points by least squares on the
// relative error (weights 1/t^2), so 4 KiB and 1 GiB transfers count alike. Returns
// {latency in seconds, bandwidth in bytes per second}; {0, 0} when the points cannot tell.
std::pair<double, double> fit_latency_bandwidth(const std::vector<std::pair<double, double>>& bytes_seconds);

struct GpuStatus {
  bool built = false;   // this binary has CUDA code in it
  bool usable = false;  // ... and at least one device answered
  std::string reason;   // why not usable: the CUDA error string, or "built without CUDA"
  std::string runtime;  // "CUDA runtime 13.0, driver 13.0" when known
  std::vector<GpuDevice> devices;
};

// Asked once per process, then cached.
const GpuStatus& gpu_status();
// For the CPU-only build's stand-ins of the GPU halves (each beside its own, *_none.cpp): every
// caller checks gpu_status() first, and one that does not gets its reason.
[[noreturn]] void no_gpu();

// "NVIDIA H100 80GB HBM3 (sm_90, 132 SMs, 79.1 GiB)" per device, or the reason there is none.
std::string gpu_summary(const GpuStatus& status);
Json gpu_json(const GpuStatus& status);

}  // namespace flopslab::bench
