// The GPU's peaks from its compute capability and clocks, the PCIe link's speed, and its JSON.
#include <fmt/format.h>

#include "harness/fit.h"
#include "harness/files.h"
#include "harness/machine/gpu_runtime.h"
#include "harness/format.h"

namespace flopslab::bench {

int fp32_lanes_per_sm(int major, int minor) {
  // CUDA programming guide, "arithmetic instructions" table: FP32 results per clock per SM.
  switch (major * 10 + minor) {
    case 70: case 72: case 75: return 64;   // Volta, Turing
    case 80: return 64;                     // A100
    case 86: case 87: case 89: return 128;  // GA10x, Orin, Ada
    case 90: return 128;                    // Hopper
    case 100: case 103: case 110: case 120: case 121: return 128;  // Blackwell
    default: return 0;
  }
}

int tensor_bf16_flops_per_sm_clock(int major, int minor) {
  // NVIDIA's datasheets: A100 312 TFLOP/s = 108 SMs x 1.41 GHz x 2048; H100 SXM 989 TFLOP/s =
  // 132 SMs x 1.83 GHz x 4096 (dense, float32 sums).
  switch (major * 10 + minor) {
    case 80: return 2048;
    case 90: return 4096;
    default: return 0;
  }
}

double pcie_gbytes_per_lane(int generation) {
  // Transfer rate x line-code efficiency / 8 bits, per direction.
  switch (generation) {
    case 1: return 2.5 * 0.8 / 8;
    case 2: return 5.0 * 0.8 / 8;
    case 3: return 8.0 * 128 / 130 / 8;
    case 4: return 16.0 * 128 / 130 / 8;
    case 5: return 32.0 * 128 / 130 / 8;
    case 6: return 64.0 * 242 / 256 / 8;  // PAM4 with FLIT encoding
    default: return 0;
  }
}

GpuPeaks gpu_peaks(const GpuDevice& d) {
  GpuPeaks p;
  const int lanes = fp32_lanes_per_sm(d.cc_major, d.cc_minor);
  if (lanes > 0 && d.sm_clock_max_mhz > 0) {
    p.fp32_gflops = double(d.sm_count) * lanes * 2 * d.sm_clock_max_mhz * 1e-3;
    p.fp32_formula = fmt::format("{} SMs x {} FP32 lanes x 2 x {:.3f} GHz = {:.1f} TFLOP/s", d.sm_count, lanes,
                                 d.sm_clock_max_mhz * 1e-3, p.fp32_gflops * 1e-3);
  } else {
    p.fp32_formula = fmt::format("unknown: FP32 lanes per SM of sm_{}{} are not in flopslab's table", d.cc_major, d.cc_minor);
  }
  if (const int per_clock = tensor_bf16_flops_per_sm_clock(d.cc_major, d.cc_minor); per_clock > 0 && d.sm_clock_max_mhz > 0) {
    p.tensor_bf16_gflops = double(d.sm_count) * per_clock * d.sm_clock_max_mhz * 1e-3;
    p.tensor_tf32_gflops = p.tensor_bf16_gflops / 2;
    p.tensor_formula = fmt::format("{} SMs x {} bf16 FLOPs per clock x {:.3f} GHz = {:.1f} TFLOP/s (TF32 half of it)",
                                   d.sm_count, per_clock, d.sm_clock_max_mhz * 1e-3, p.tensor_bf16_gflops * 1e-3);
  } else {
    p.tensor_formula = fmt::format("unknown: dense tensor-core FLOPs per clock of sm_{}{} are not in flopslab's table",
                                   d.cc_major, d.cc_minor);
  }
  if (d.memory_bus_bits > 0 && d.memory_clock_max_mhz > 0) {
    p.memory_gbytes_per_s = d.memory_bus_bits / 8.0 * 2 * d.memory_clock_max_mhz * 1e-3;
    p.memory_formula = fmt::format("{} bits / 8 x 2 (double data rate) x {:.3f} GHz = {:.0f} GB/s", d.memory_bus_bits,
                                   d.memory_clock_max_mhz * 1e-3, p.memory_gbytes_per_s);
  }
  const GpuLink link = gpu_link(d);
  if (link == GpuLink::integrated) {
    p.pcie_formula = "none: an integrated GPU uses the CPU's own DRAM, so a host-device copy is a DRAM-to-DRAM copy "
                     "and zero-copy access needs no copy at all";
  } else if (link == GpuLink::nvlink_c2c) {
    p.pcie_gbytes_per_s = kNvlinkC2cGbytesPerDirection;
    p.pcie_formula = fmt::format("NVLink-C2C (coherent): rated 900 GB/s both directions = {:.0f} GB/s each way "
                                 "(NVIDIA's figure, not read from the device)",
                                 kNvlinkC2cGbytesPerDirection);
  } else if (d.pcie_gen > 0 && d.pcie_width > 0) {
    p.pcie_gbytes_per_s = pcie_gbytes_per_lane(d.pcie_gen) * d.pcie_width;
    p.pcie_formula = fmt::format("PCIe gen {} x{}: {:.2f} GB/s per lane per direction x {} = {:.1f} GB/s", d.pcie_gen,
                                 d.pcie_width, pcie_gbytes_per_lane(d.pcie_gen), d.pcie_width, p.pcie_gbytes_per_s);
  } else {
    p.pcie_formula = "unknown (" + d.link_source + ")";
  }
  return p;
}

GpuLink gpu_link(const GpuDevice& d) {
  if (d.integrated) return GpuLink::integrated;
  // Native atomics on host memory and the CPU's page tables: a cache-coherent link. On the
  // machines CUDA supports that is Grace's NVLink-C2C (GH200, GB200); PCIe, even with HMM,
  // has neither.
  if (d.host_native_atomics && d.uses_host_page_tables) return GpuLink::nvlink_c2c;
  return GpuLink::pcie;
}

const char* gpu_link_name(GpuLink link) {
  switch (link) {
    case GpuLink::pcie: return "PCIe";
    case GpuLink::nvlink_c2c: return "NVLink-C2C";
    case GpuLink::integrated: return "integrated (shared DRAM)";
  }
  return "PCIe";
}

// Weighted least squares as a 2x2 linear system in (latency, 1 / bandwidth).
std::pair<double, double> fit_latency_bandwidth(const std::vector<std::pair<double, double>>& bytes_seconds) {
  std::vector<double> bytes, seconds;
  for (const auto& [x, t] : bytes_seconds) bytes.push_back(x), seconds.push_back(t);
  try {
    const AlphaBeta f = fit_alpha_beta(bytes, seconds);
    return {f.alpha_s, f.bytes_per_s()};
  } catch (const std::invalid_argument&) {
    return {0, 0};
  }
}

std::string gpu_summary(const GpuStatus& s) {
  if (!s.usable) return fmt::format("none usable: {}", s.reason);
  std::string out;
  for (const GpuDevice& d : s.devices) {
    out += fmt::format("{}{} (sm_{}{}, {} SMs, {}, L2 {}), {}", out.empty() ? "" : "\n             ", d.name,
                       d.cc_major, d.cc_minor, d.sm_count, format_bytes(double(d.memory_bytes)),
                       format_bytes(double(d.l2_bytes)), s.runtime);
    out += fmt::format("\nGPU clocks   SM {} MHz max{}, memory {} MHz max{}, bus {} bits", d.sm_clock_max_mhz,
                       d.sm_clock_mhz > 0 ? fmt::format(" ({} now)", d.sm_clock_mhz) : "", d.memory_clock_max_mhz,
                       d.memory_clock_mhz > 0 ? fmt::format(" ({} now)", d.memory_clock_mhz) : "", d.memory_bus_bits);
    const GpuLink link = gpu_link(d);
    if (link != GpuLink::pcie)
      out += fmt::format("\nGPU link     {}{}", gpu_link_name(link),
                         d.pageable_memory_access ? " (the GPU reads pageable host memory in place)" : "");
    else
      out += d.pcie_gen > 0 ? fmt::format("\nGPU link     PCIe gen {} x{} (max gen {} x{}, from {})", d.pcie_gen, d.pcie_width,
                                          d.pcie_gen_max, d.pcie_width_max, d.link_source)
                            : fmt::format("\nGPU link     unknown ({})", d.link_source);
    const GpuPeaks p = gpu_peaks(d);
    out += fmt::format("\nGPU FP32     {}\nGPU tensor   {}\nGPU memory   {}\nGPU bus      {}", p.fp32_formula,
                       p.tensor_formula, p.memory_formula.empty() ? "unknown" : p.memory_formula, p.pcie_formula);
  }
  return out;
}

Json gpu_json(const GpuStatus& s) {
  Json devices = Json::array();
  for (const GpuDevice& d : s.devices)
  {
    const GpuPeaks p = gpu_peaks(d);
    devices.push_back({{"index", d.index}, {"name", d.name}, {"compute_capability", fmt::format("{}.{}", d.cc_major, d.cc_minor)},
                       {"sm_count", d.sm_count}, {"memory_bytes", d.memory_bytes}, {"pci_bus_id", d.pci_bus_id},
                       {"sm_clock_max_mhz", d.sm_clock_max_mhz}, {"sm_clock_mhz", d.sm_clock_mhz},
                       {"memory_clock_max_mhz", d.memory_clock_max_mhz}, {"memory_clock_mhz", d.memory_clock_mhz},
                       {"memory_bus_bits", d.memory_bus_bits}, {"l2_bytes", d.l2_bytes},
                       {"shared_per_sm_bytes", d.shared_per_sm_bytes}, {"max_threads_per_sm", d.max_threads_per_sm},
                       {"pcie", {{"gen", d.pcie_gen}, {"width", d.pcie_width}, {"gen_max", d.pcie_gen_max},
                                 {"width_max", d.pcie_width_max}, {"source", d.link_source}}},
                       {"host_link", {{"kind", gpu_link_name(gpu_link(d))}, {"integrated", d.integrated},
                                      {"pageable_memory_access", d.pageable_memory_access},
                                      {"uses_host_page_tables", d.uses_host_page_tables},
                                      {"host_native_atomics", d.host_native_atomics}}},
                       {"peaks", {{"fp32_gflops", p.fp32_gflops}, {"fp32_formula", p.fp32_formula},
                                  {"memory_gbytes_per_s", p.memory_gbytes_per_s}, {"memory_formula", p.memory_formula},
                                  {"pcie_gbytes_per_s", p.pcie_gbytes_per_s}, {"pcie_formula", p.pcie_formula},
                                  {"tensor_bf16_gflops", p.tensor_bf16_gflops}, {"tensor_tf32_gflops", p.tensor_tf32_gflops},
                                  {"tensor_formula", p.tensor_formula}}}});
  }
  return Json{{"built_with_cuda", s.built}, {"usable", s.usable}, {"reason", s.reason},
              {"runtime", s.runtime}, {"devices", devices}};
}

}  // namespace flopslab::bench
