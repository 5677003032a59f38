// A probe measures one property of the machine (`flopslab probe NAME`, and one subsection of
// the report's CPU section). It returns a ProbeReport: paragraphs and tables in order (printed
// on the terminal, rendered in report.md), the charts scripts/plot draws from its JSON, and
// the JSON itself with every raw point.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "harness/machine/cpu_model.h"
#include "harness/json.h"
#include "harness/machine/machine.h"
#include "harness/table.h"
#include "harness/timing.h"

namespace flopslab::bench {

struct ProbeContext {
  const MachineInfo& machine;
  const ClockMeasurement& clock;
  bool quick = false;
  bool peers = true;           // run likwid-bench beside the probes (off in quick mode)
  int cores = 1;               // threads for "all cores": one per physical core
  std::int64_t max_bytes = 0;  // largest working set the memory probes may allocate
  TimingOptions timing;
  std::function<void(const std::string&)> progress;

  void step(const std::string& what) const {
    if (progress) progress(what);
  }
};

class ProbeReport {
 public:
  ProbeReport(std::string name, std::string title) : name_(std::move(name)), title_(std::move(title)) {}

  void say(std::string paragraph) { blocks_.emplace_back(std::move(paragraph)); }
  void table(Table table) { blocks_.emplace_back(std::move(table)); }
  void chart(std::string file, std::string alt) { charts_.emplace_back(std::move(file), std::move(alt)); }

  const std::string& name() const { return name_; }
  const std::string& title() const { return title_; }
  Json json;  // raw points, under sections.cpu.<name> in report.json

  std::string text() const;
  // Charts appear where they were drawn into `dir`; a chart that is not there is left out.
  std::string markdown(const std::string& dir, int heading_level = 3) const;

 private:
  std::string name_, title_;
  std::vector<std::variant<std::string, Table>> blocks_;
  std::vector<std::pair<std::string, std::string>> charts_;
};

struct Probe {
  std::string_view name;
  ProbeReport (*run)(const ProbeContext&);
  bool needs_gpu = false;
};

// flops, latency, bandwidth, locality, threads: in the order the report shows them.
std::span<const Probe> cpu_probes();
// gpu-flops, gpu-bandwidth, gpu-threads, gpu-divergence, gpu-launch, pcie.
std::span<const Probe> gpu_probes();
const Probe* find_probe(std::string_view name);


struct ProbeSessionOptions {
  bool quick = false;
  bool peers = true;            // likwid-bench beside the probes (never in quick mode)
  int cores = 0;                // 0: every physical core
  std::int64_t max_bytes = 0;   // 0: default_max_bytes
  std::function<void(const std::string&)> progress;
};

// What a run of probes shares, set up once: the machine, its measured clock, the context.
// The CLI's `probe`, the report and the lessons all start from one.
class ProbeSession {
 public:
  explicit ProbeSession(const ProbeSessionOptions& options);
  ProbeSession(const ProbeSession&) = delete;
  ProbeSession& operator=(const ProbeSession&) = delete;

  const MachineInfo machine;
  const ClockMeasurement clock;
  const ProbeContext context;
};

// Comma-joined names of every probe (CPU, then GPU), for messages.
std::string probe_names();

}  // namespace flopslab::bench
