// `flopslab roofline [--from DIR] [--device cpu|cuda] [--threads 1|all] [--json FILE] [--out DIR]
// [--quick]`: every GEMM and convolution kernel and training layer under this machine's measured
// roofs. Without --from it measures (the report's CPU probes, GEMM and convolution sections and
// the training layers at several batch sizes; with --device cuda the GPU's too); with --from it
// places a stored report's kernels under that report's roofs.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include <fmt/format.h>

#include "bench/roofline/roofline.h"
#include "bench/training/layer_profile.h"
#include "cli/args.h"
#include "cli/command.h"
#include "harness/external.h"
#include "harness/files.h"
#include "harness/progress.h"
#include "report/report_compare.h"
#include "report/section.h"

namespace flopslab::cli {
namespace {

namespace fs = std::filesystem;

struct RooflineArgs {
  std::string from, device = "cpu", threads = "all", json, out;
  bool quick = false, force = false, no_plots = false, no_progress = false;
};

// The report sections the roofline needs, measured now; returns their "sections" JSON.
Json measure_sections(const RooflineArgs& a, const std::string& command, std::string& machine_name,
                      bool& checks_passed) {
  bench::Progress progress(!a.no_progress);
  bench::ReportOptions o{.quick = a.quick, .plots = false, .command_line = command};
  o.progress = [&](const std::string& line) { progress(line); };
  const bench::ProbeSession session({.quick = a.quick, .progress = o.progress});
  if (a.device == "cuda") wants_gpu("roofline", a.device, session.machine);
  machine_name = session.machine.cpu_brand;
  std::vector<std::unique_ptr<bench::ReportSection>> sections;
  sections.push_back(bench::cpu_probes_section());
  sections.push_back(bench::cpu_gemm_section());
  sections.push_back(bench::cpu_conv_section());
  if (a.device == "cuda") {
    sections.push_back(bench::gpu_probes_section());
    sections.push_back(bench::gpu_gemm_section());
  }
  Json json = Json::object();
  const bench::SectionInputs inputs{.options = o, .session = session};
  for (const auto& s : sections) {
    s->measure(inputs, json);
    checks_passed = checks_passed && s->checks_passed;
  }
  // The training stack's layers at several batch sizes (the report's training section has the
  // same list; its epoch against PyTorch is not needed here).
  std::vector<bench::BatchProfile> profiles = bench::profile_layers(
      {.threads = session.machine.physical_cores, .quick = a.quick, .progress = o.progress});
  if (a.device == "cuda") {
    std::vector<bench::BatchProfile> gpu =
        bench::profile_layers({.device = nn::DeviceTag::cuda, .quick = a.quick, .progress = o.progress});
    profiles.insert(profiles.end(), gpu.begin(), gpu.end());
  }
  json["training"]["layer_profiles"] = bench::layer_profiles_json(profiles);
  progress.finish();
  return json;
}

int run_roofline(const RooflineArgs& a, const std::string& command) {
  if (a.device != "cpu" && a.device != "cuda")
    throw UsageError(fmt::format("roofline: --device must be cpu or cuda, not '{}'", a.device));
  if (a.threads != "1" && a.threads != "all")
    throw UsageError(fmt::format("roofline: --threads must be 1 or all, not '{}'", a.threads));
  if (!a.from.empty() && a.quick) throw UsageError("roofline: --quick measures; it cannot go with --from");
  if (!a.out.empty() && fs::exists(a.out) && !a.force)
    throw UsageError("roofline: " + a.out + " already exists; pass --force to replace it or choose another --out");
  check_output_dir("roofline: --out", a.out);
  if (!a.json.empty()) check_output_file("roofline: --json", a.json);

  std::string machine_name;
  bool checks_passed = true;
  Json sections;
  if (!a.from.empty()) {
    Json report;
    try {
      report = bench::read_report(a.from);
    } catch (const std::invalid_argument& e) {
      throw UsageError(std::string("roofline: --from: ") + e.what());
    }
    if (!report.contains("sections") || !report["sections"].is_object())
      throw UsageError("roofline: --from: " + a.from + "/report.json is not a flopslab report (no sections)");
    sections = report["sections"];
    machine_name = report.contains("machine") && report["machine"].contains("cpu")
                       ? report["machine"]["cpu"].value("brand", std::string("?"))
                       : "?";
  } else {
    sections = measure_sections(a, command, machine_name, checks_passed);
  }

  bench::roofline::Roofline r = bench::roofline::roofline_from_sections(sections);
  // Keep the device asked for, and one core or all of them.
  int cores = 1;
  for (const bench::roofline::Placement& p : r.placements)
    if (p.point.device == "cpu") cores = std::max(cores, p.point.threads);
  std::erase_if(r.placements, [&](const bench::roofline::Placement& p) {
    if (p.point.device != a.device) return true;
    return a.device == "cpu" && (a.threads == "1" ? p.point.threads != 1 : p.point.threads != cores);
  });
  if (r.placements.empty())
    throw UsageError(fmt::format("roofline: {} has no {} GEMM, convolution or training results{}", a.from.empty() ? "this run" : a.from,
                                 a.device, a.device == "cpu" ? " on " + a.threads + " thread(s)" : ""));

  std::printf("Roofline of %s (%s): %zu kernels under the roofs %s.\n\n", machine_name.c_str(),
              a.device == "cpu" ? (a.threads == "1" ? "one core" : "all cores") : "the GPU", r.placements.size(),
              a.from.empty() ? "measured in this run" : ("of " + a.from).c_str());
  std::printf("Roofs:\n\n%s\n", bench::roofline::roofs_table(r.roofs).text().c_str());
  namespace rl = bench::roofline;
  std::printf("Kernels (FLOP/byte: FLOPs per compulsory byte; bound: the roof that limits it there):\n\n%s\n",
              rl::roofline_table(r, 0, rl::PointSet::kernels).text().c_str());
  if (std::any_of(r.placements.begin(), r.placements.end(), [](const rl::Placement& p) { return p.point.training(); })) {
    std::printf("Training layers and steps (mean time per step from the training loop's timers; layers that "
                "only move data are placed by GB/s):\n\n%s\n",
                rl::roofline_table(r, 0, rl::PointSet::training).text().c_str());
    for (const std::string& line : rl::training_summary(r)) std::printf("  - %s\n", line.c_str());
    std::printf("\n");
  }
  if (const std::string note = rl::measured_intensity_note(r); !note.empty()) std::printf("%s\n\n", note.c_str());
  const std::vector<std::string> worst = bench::roofline::furthest_below(r, 3);
  if (!worst.empty()) {
    std::printf("Furthest below their roof:\n");
    for (const std::string& line : worst) std::printf("  - %s\n", line.c_str());
  }
  if (r.flagged() > 0)
    std::fprintf(stderr,
                 "flopslab: error: %d point(s) above their roof: a FLOP count, a byte count or a roof is wrong%s\n",
                 r.flagged(), a.from.empty() ? " (or other work held the cores while a roof was measured: rerun idle)" : "");

  Json json = bench::roofline::roofline_json(r);
  json["machine"] = machine_name;
  json["command"] = command;
  if (!a.json.empty()) bench::write_file_atomically(a.json, json.dump(2) + "\n");
  if (!a.out.empty()) {
    bench::create_output_dir(a.out);
    bench::write_file_atomically(a.out + "/roofline.json", json.dump(2) + "\n");
    const std::string note = a.no_plots ? "charts not drawn: --no-plots" : bench::run_plot_script(a.out);
    std::string charts;
    for (const char* png : {"roofline.png", "roofline-training.png"})
      if (fs::exists(fs::path(a.out) / png)) charts += std::string(" and ") + png;
    std::printf("\nWrote %s/roofline.json%s.\n", a.out.c_str(), note.empty() ? charts.c_str() : ("; " + note).c_str());
  }
  return r.flagged() == 0 && checks_passed ? 0 : 1;
}

}  // namespace

CLI::App* add_roofline_command(CLI::App& app, CommandRun& run) {
  auto a = std::make_shared<RooflineArgs>();
  auto* sub = app.add_subcommand(
      "roofline",
      "Place every GEMM and convolution kernel and training layer under this machine's measured roofs (FLOP/s peaks "
      "and the bandwidth of each cache level): its arithmetic intensity, the roof that bounds it, and how close it "
      "gets (lesson 22)");
  sub->add_option("--from", a->from, "Use a stored report's measurements instead of measuring now")->type_name("DIR");
  sub->add_option("--device", a->device, "cpu, or cuda (the GPU's probes and GEMM ladder)")->capture_default_str();
  sub->add_option("--threads", a->threads, "1 (one core) or all (every core)")->capture_default_str();
  add_json_option(*sub, a->json, "the roofs and every point, with its bound");
  sub->add_option("--out", a->out, "Also write roofline.json and the chart roofline.png to DIR")->type_name("DIR");
  add_force_flag(*sub, a->force, "Replace --out if it exists");
  add_quick_flag(*sub, a->quick, "Small sizes and short timing when measuring (a smoke test)");
  add_no_plots_flag(*sub, a->no_plots, "Do not draw the chart");
  add_no_progress_flag(*sub, a->no_progress);
  run = [a](const std::string& command) { return run_roofline(*a, command); };
  return sub;
}

}  // namespace flopslab::cli
