// The probe table and the probes' shared plumbing: select, run, print and collect JSON.
#include "bench/probes/probe.h"

#include <algorithm>
#include <filesystem>

#include <fmt/format.h>

#include "harness/files.h"

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
    {"flops", run_flops_probe},
    {"latency", run_latency_probe},
    {"bandwidth", run_bandwidth_probe},
    {"locality", run_locality_probe},
    {"threads", run_threads_probe},
};
const Probe kGpuProbes[] = {
    {"gpu-flops", run_gpu_flops_probe, true},
    {"gpu-bandwidth", run_gpu_bandwidth_probe, true},
    {"gpu-threads", run_gpu_threads_probe, true},
    {"gpu-divergence", run_gpu_divergence_probe, true},
    {"gpu-launch", run_gpu_launch_probe, true},
    {"pcie", run_pcie_probe, true},
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

// The largest working set each memory probe wants by default: at least 1 GiB, and 4x the
// last-level cache when that is more (quick: 64 MiB), but never more than half the memory
// the OS has available.
static std::int64_t default_max_bytes(const MachineInfo& machine, bool quick) {
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
