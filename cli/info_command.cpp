// `flopslab info [--json FILE]`: this machine, its measured clock and peaks.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "cli/args.h"
#include "cli/command.h"
#include "harness/files.h"
#include "harness/machine/cpu_model.h"
#include "harness/machine/machine.h"

namespace flopslab::cli {
namespace {

int run_info(const std::string& json_path) {
  check_output_file("--json", json_path);
  const bench::MachineInfo m = bench::describe_machine();
  const bench::ClockMeasurement clock = bench::measure_clock(m.physical_cores, bench::quick_timing());
  std::printf("%s%s", bench::machine_summary(m).c_str(), bench::cpu_peak_summary(m, clock).c_str());
  if (!json_path.empty()) {
    Json json = bench::machine_json(m);
    json["cpu_model"] = bench::cpu_peak_json(m, clock);
    bench::write_file_atomically(json_path, json.dump(2) + "\n");
  }
  return 0;
}

}  // namespace

CLI::App* add_info_command(CLI::App& app, CommandRun& run) {
  auto json = std::make_shared<std::string>();
  auto* sub = app.add_subcommand(
      "info", "Describe this machine: CPU, SIMD, cores, caches, memory, GPU, build; measured clock and peaks");
  add_json_option(*sub, *json, "the description");
  run = [json](const std::string&) { return run_info(*json); };
  return sub;
}

}  // namespace flopslab::cli
