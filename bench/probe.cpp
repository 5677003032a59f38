#include "bench/probe.h"

#include <algorithm>
#include <filesystem>

#include <fmt/format.h>

#include "bench/files.h"

namespace flopslab::bench {

ProbeReport run_flops_probe(const ProbeContext&);
ProbeReport run_latency_probe(const ProbeContext&);
ProbeReport run_bandwidth_probe(const ProbeContext&);
ProbeReport run_locality_probe(const ProbeContext&);
ProbeReport run_threads_probe(const ProbeContext&);
ProbeReport run_gpu_flops_probe(const ProbeContext&);
ProbeReport run_gpu_bandwidth_probe(const ProbeContext&);
ProbeReport run_gpu_threads_probe(const ProbeContext&);
ProbeReport run_gpu_divergence_probe(const ProbeContext&);
ProbeReport run_gpu_launch_probe(const ProbeContext&);
ProbeReport run_pcie_probe(const ProbeContext&);

namespace {
const Probe kProbes[] = {
    {"flops", "Peak FLOPS", "FMA throughput per ISA and precision, one core and all cores, against the theoretical peak", 1,
     run_flops_probe},
    {"latency", "Memory latency", "pointer chasing from 1 KiB to 1 GiB: the cache levels found from the curve", 2,
     run_latency_probe},
    {"bandwidth", "Memory bandwidth", "STREAM kernels from L1 to DRAM, with and without non-temporal stores", 2,
     run_bandwidth_probe},
    {"locality", "Locality", "row vs column traversal, stride sweep, naive vs blocked transpose, the memory mountain", 3, run_locality_probe},
    {"threads", "Threads and SMT", "compute- and memory-bound loops on 1..N threads, cores then SMT siblings", 4,
     run_threads_probe},
};
const Probe kGpuProbes[] = {
    {"gpu-flops", "GPU FP32 throughput", "FMA chains on every SM against SMs x lanes x 2 x clock", 6, run_gpu_flops_probe, true},
    {"gpu-bandwidth", "GPU memory bandwidth", "copy and triad over grid sizes and vector widths; L2; shared memory", 6,
     run_gpu_bandwidth_probe, true},
    {"gpu-threads", "How many threads a GPU needs", "the same kernels on 1 to millions of threads", 6, run_gpu_threads_probe, true},
    {"gpu-divergence", "Control flow on a GPU", "branching on the warp index against the lane index", 6,
     run_gpu_divergence_probe, true},
    {"gpu-launch", "Launching and synchronising", "launch latency and throughput, graphs, sync costs, the wrong timer", 6,
     run_gpu_launch_probe, true},
    {"pcie", "The CPU-GPU bus", "H2D/D2H/D2D over sizes and host-memory kinds, latency + bandwidth fit, overlap", 8,
     run_pcie_probe, true},
};
}  // namespace

std::span<const Probe> cpu_probes() { return kProbes; }
std::span<const Probe> gpu_probes() { return kGpuProbes; }

const Probe* find_probe(std::string_view name) {
  for (const Probe& p : kProbes)
    if (p.name == name) return &p;
  for (const Probe& p : kGpuProbes)
    if (p.name == name) return &p;
  return nullptr;
}

std::string probe_names() {
  std::string names;
  for (const Probe& p : kProbes) names += (names.empty() ? "" : ", ") + std::string(p.name);
  for (const Probe& p : kGpuProbes) names += ", " + std::string(p.name);
  return names;
}

std::int64_t default_max_bytes(const MachineInfo& machine, bool quick) {
  std::int64_t llc = 0;
  for (int level = 1; level <= 4; ++level) llc = std::max(llc, cache_bytes(machine, level));
  std::int64_t bytes = quick ? std::int64_t(64) << 20 : std::max(std::int64_t(1) << 30, 4 * llc);
  if (const std::int64_t available = available_memory_bytes(); available > 0 && bytes > available / 2)
    bytes = std::max<std::int64_t>(64 << 20, available / 2 / (64 << 20) * (64 << 20));
  return bytes;
}

namespace {

int session_cores(const ProbeSessionOptions& o, const MachineInfo& m) { return o.cores > 0 ? o.cores : m.physical_cores; }
TimingOptions session_timing(const ProbeSessionOptions& o) { return o.quick ? quick_timing() : TimingOptions{}; }

ClockMeasurement session_clock(const ProbeSessionOptions& o, const MachineInfo& m) {
  if (o.progress) o.progress("measuring the clock");
  return measure_clock(session_cores(o, m), session_timing(o));
}

}  // namespace

ProbeSession::ProbeSession(const ProbeSessionOptions& o)
    : machine(describe_machine()),
      clock(session_clock(o, machine)),
      context{.machine = machine,
              .clock = clock,
              .quick = o.quick,
              .peers = o.peers && !o.quick,
              .cores = session_cores(o, machine),
              .max_bytes = o.max_bytes > 0 ? o.max_bytes : default_max_bytes(machine, o.quick),
              .timing = session_timing(o),
              .progress = o.progress} {}

std::string ProbeReport::text() const {
  std::string out = fmt::format("{}\n{}\n\n", title_, std::string(title_.size(), '-'));
  for (const auto& block : blocks_) {
    if (const auto* p = std::get_if<std::string>(&block))
      out += *p + "\n\n";
    else
      out += std::get<Table>(block).text() + "\n";
  }
  return out;
}

std::string ProbeReport::markdown(const std::string& dir, int heading_level) const {
  std::string out = fmt::format("{} {}\n\n", std::string(heading_level, '#'), title_);
  for (const auto& block : blocks_) {
    if (const auto* p = std::get_if<std::string>(&block))
      out += *p + "\n\n";
    else
      out += std::get<Table>(block).markdown() + "\n";
  }
  for (const auto& [file, alt] : charts_)
    if (std::filesystem::exists(std::filesystem::path(dir) / file)) out += fmt::format("![{}]({})\n\n", alt, file);
  return out;
}

}  // namespace flopslab::bench
