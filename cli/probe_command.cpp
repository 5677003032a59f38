// `flopslab probe NAME|all`: one property of the CPU, memory, GPU or bus, or all of them.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "cli/args.h"
#include "cli/command.h"
#include "harness/counters.h"
#include "harness/files.h"
#include "harness/machine/cpu_model.h"
#include "harness/machine/machine.h"
#include "harness/progress.h"
#include "bench/probes/probe.h"

namespace flopslab::cli {
namespace {

struct ProbeArgs {
  std::string name, threads, max_size, json;
  bool quick = false, no_progress = false, no_peers = false;
};

int run_probe(const ProbeArgs& a, const std::string& command) {
  std::vector<const bench::Probe*> probes;
  const bench::GpuStatus& gpu = bench::gpu_status();
  if (a.name == "all") {
    for (const bench::Probe& p : bench::cpu_probes()) probes.push_back(&p);
    if (gpu.usable)
      for (const bench::Probe& p : bench::gpu_probes()) probes.push_back(&p);
    else
      std::fprintf(stderr, "flopslab: no usable GPU, so the GPU probes are left out: %s\n", gpu.reason.c_str());
  } else if (const bench::Probe* p = bench::find_probe(a.name)) {
    probes.push_back(p);
  } else {
    throw UsageError(fmt::format("probe: unknown probe '{}' (valid: {}, all)", a.name, bench::probe_names()));
  }
  for (const bench::Probe* p : probes)
    if (p->needs_gpu && !gpu.usable)
      throw std::runtime_error(fmt::format("probe {} needs a usable NVIDIA GPU: {}", p->name, gpu.reason));
  const bench::MachineInfo described = bench::describe_machine();
  bench::ProbeSessionOptions options{.quick = a.quick, .peers = !a.no_peers};
  if (!a.threads.empty()) options.cores = static_cast<int>(parse_integer("--threads", a.threads, 1, kMaxThreads));
  if (!a.max_size.empty()) {
    options.max_bytes = parse_bytes("--max-size", a.max_size, 1 << 20, std::int64_t(1) << 50);
    const std::int64_t available = bench::available_memory_bytes();
    if (available > 0 && options.max_bytes > available / 2)
      throw UsageError(fmt::format("--max-size: {} is more than half of the {} of memory available; the probes "
                                   "need up to twice the working set",
                                   bench::format_bytes(double(options.max_bytes)), bench::format_bytes(double(available))));
  }
  check_output_file("--json", a.json);
  warn_oversubscription({options.cores}, described.logical_cpus);

  bench::Progress progress(!a.no_progress);
  options.progress = [&](const std::string& line) { progress(line); };
  const bench::ProbeSession session(options);
  const bench::ProbeContext& ctx = session.context;
  const bench::MachineInfo& machine = session.machine;
  const bench::ClockMeasurement& clock = session.clock;
  Json results = Json::object();
  std::string text;
  for (const bench::Probe* p : probes) {
    const bench::ProbeReport r = p->run(ctx);
    results[std::string(p->name)] = r.json;
    text += r.text();
  }
  progress.finish();
  const bench::Counters& counters = bench::Counters::instance();
  std::printf("%s\n%s%s", bench::cpu_peak_summary(machine, clock).c_str(),
              counters.available() ? "" : (counters.reason() + "\n").c_str(), ("\n" + text).c_str());
  if (!a.json.empty()) {
    const Json json{{"schema", "flopslab-probe/1"},
                    {"command", command},
                    {"machine", bench::machine_json(machine)},
                    {"cpu_model", bench::cpu_peak_json(machine, clock)},
                    {"probes", results}};
    bench::write_file_atomically(a.json, json.dump(2) + "\n");
    std::printf("Wrote %s\n", a.json.c_str());
  }
  return 0;
}

}  // namespace

CLI::App* add_probe_command(CLI::App& app, CommandRun& run) {
  auto a = std::make_shared<ProbeArgs>();
  auto* sub = app.add_subcommand("probe", "Measure one property of the CPU, memory, GPU or bus: " + bench::probe_names() +
                                              ", or all");
  sub->add_option("NAME", a->name, "Which probe: " + bench::probe_names() + ", all")->required();
  sub->add_option("--threads", a->threads, "Threads for the all-core runs  [physical cores]")->type_name("N");
  sub->add_option("--max-size", a->max_size,
                  "Largest working set of the memory probes, e.g. 512M, 2G  [1G, or 4x the last-level cache]")
      ->type_name("SIZE");
  add_json_option(*sub, a->json, "every raw point, with the machine");
  add_quick_flag(*sub, a->quick, "Small working sets and short timing (a smoke test)");
  sub->add_flag("--no-peers", a->no_peers, "Do not run likwid-bench beside the probes");
  add_no_progress_flag(*sub, a->no_progress);
  run = [a](const std::string& command) { return run_probe(*a, command); };
  return sub;
}

}  // namespace flopslab::cli
