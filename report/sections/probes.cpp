// The report's probe sections: "CPU" (every CPU probe, lessons 01-04) and "GPU" (the GPU probes
// and the bus, lessons 06-08, or why there is no usable GPU). Each probe writes its own table,
// points and charts (bench/probes); these sections only run them in order and frame them.
#include <span>

#include <fmt/format.h>

#include "harness/counters.h"
#include "harness/machine/gpu_runtime.h"
#include "report/section.h"

namespace flopslab::bench {
namespace {

// Runs each probe into sections[key][name] (or sections[key]["probes"][name]).
std::vector<ProbeReport> run_probes(std::span<const Probe> list, const ProbeContext& ctx, Json& into) {
  std::vector<ProbeReport> reports;
  for (const Probe& probe : list) {
    reports.push_back(probe.run(ctx));
    into[std::string(probe.name)] = reports.back().json;
  }
  return reports;
}

class CpuProbes final : public ReportSection {
 public:
  void measure(const SectionInputs& in, Json& sections) override {
    hypervisor_ = in.session.machine.hypervisor;
    Json& cpu = sections["cpu"] = Json::object();
    reports_ = run_probes(cpu_probes(), in.session.context, cpu);
  }
  std::string markdown(const std::string& dir) const override {
    std::string md = "## CPU\n\nEach subsection is one `flopslab probe`; the lesson it belongs to is in its title. ";
    if (hypervisor_)
      md += "This machine is virtualised: the host may run another tenant on a core's SMT sibling or move it, so "
            "throughput can shift between runs by up to 2x; each row's spread shows the noise within a run. ";
    const Counters& counters = Counters::instance();
    md += counters.available() ? "Hardware counters (perf_event_open) are attached where a probe shows them.\n\n"
                               : counters.reason() + ".\n\n";
    for (const ProbeReport& probe : reports_) md += probe.markdown(dir);
    return md;
  }

 private:
  bool hypervisor_ = false;
  std::vector<ProbeReport> reports_;
};

// Opens the report's GPU part: its probes, or the reason there is no GPU to measure (then the
// GPU GEMM and convolution sections add nothing).
class GpuProbes final : public ReportSection {
 public:
  void measure(const SectionInputs& in, Json& sections) override {
    const GpuStatus& gpu = gpu_status();
    usable_ = gpu.usable;
    reason_ = gpu.reason;
    Json& section = sections["gpu"] = Json{{"usable", gpu.usable}, {"reason", gpu.reason}, {"probes", Json::object()}};
    if (gpu.usable) reports_ = run_probes(gpu_probes(), in.session.context, section["probes"]);
  }
  std::string markdown(const std::string& dir) const override {
    std::string md = "## GPU\n\n";
    if (!usable_)
      return md + fmt::format("No usable GPU: {}. The GPU probes, the CUDA GEMM ladder, the CUDA and cuDNN "
                              "convolutions and the bus measurements need one.\n\n",
                              reason_);
    md += "Each subsection is one `flopslab probe`; GPU times come from CUDA events after synchronisation.\n\n";
    for (const ProbeReport& probe : reports_) md += probe.markdown(dir);
    return md;
  }

 private:
  bool usable_ = false;
  std::string reason_;
  std::vector<ProbeReport> reports_;
};

}  // namespace

std::unique_ptr<ReportSection> cpu_probes_section() { return std::make_unique<CpuProbes>(); }
std::unique_ptr<ReportSection> gpu_probes_section() { return std::make_unique<GpuProbes>(); }

}  // namespace flopslab::bench
