// The table of commands and the help and messages made from it.
#include "cli/command.h"

#include <cstdio>

#include <fmt/format.h>

#include "cli/args.h"
#include "harness/files.h"

namespace flopslab::cli {

std::span<const Command> commands() {
  static const Command table[] = {
      {"info", add_info_command},       {"probe", add_probe_command},         {"gemm", add_gemm_command},
      {"conv", add_conv_command},       {"train", add_train_command},         {"lr-find", add_lr_find_command},
      {"infer", add_infer_command},     {"demo", add_demo_command},           {"allreduce", add_allreduce_command},
      {"scale", add_scale_command},     {"report", add_report_command},       {"roofline", add_roofline_command},
      {"compare", add_compare_command}, {"lesson", add_lesson_command},       {"course", add_course_command},
  };
  return table;
}

std::string command_names() {
  std::string names;
  for (const Command& c : commands()) names += (names.empty() ? "" : ", ") + std::string(c.name);
  return names;
}

void add_json_option(CLI::App& sub, std::string& file, const std::string& what) {
  sub.add_option("--json", file, "Also write " + what + " as JSON to FILE")->type_name("FILE");
}
void add_quick_flag(CLI::App& sub, bool& quick, const std::string& what) { sub.add_flag("--quick", quick, what); }
void add_no_progress_flag(CLI::App& sub, bool& no_progress) {
  sub.add_flag("--no-progress", no_progress, "Do not print progress on stderr");
}
void add_force_flag(CLI::App& sub, bool& force, const std::string& what) { sub.add_flag("--force", force, what); }
void add_no_plots_flag(CLI::App& sub, bool& no_plots, const std::string& what) {
  sub.add_flag("--no-plots", no_plots, what);
}

void warn_oversubscription(const std::vector<int>& threads, int logical_cpus) {
  for (int t : threads)
    if (t > logical_cpus)
      std::fprintf(stderr,
                   "flopslab: warning: %d threads is more than the %d logical CPUs here; they will share cores\n",
                   t, logical_cpus);
}

bool wants_gpu(const char* command, const std::string& device, const bench::MachineInfo& machine) {
  if (device != "cpu" && device != "cuda")
    throw UsageError(fmt::format("--device: unknown device '{}' (valid: cpu, cuda)", device));
  if (device == "cuda" && !machine.gpu.usable)
    throw std::runtime_error(fmt::format("{} --device cuda needs a usable NVIDIA GPU: {}", command, machine.gpu.reason));
  return device == "cuda";
}

int finish_sweep(const std::string& json_path, const Json& json, bool all_checks_passed) {
  if (!json_path.empty()) {
    bench::write_file_atomically(json_path, json.dump(2) + "\n");
    std::printf("\nWrote %s\n", json_path.c_str());
  }
  if (!all_checks_passed) {
    std::fprintf(stderr, "flopslab: error: some results failed verification (see the check column)\n");
    return 1;
  }
  return 0;
}

int threads_or_cores(const std::string& option, const std::string& text) {
  return text.empty() ? bench::describe_machine().physical_cores : int(parse_integer(option, text, 1, kMaxThreads));
}

}  // namespace flopslab::cli
