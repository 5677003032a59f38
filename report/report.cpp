// `flopslab report`: the sections run in order, the directory written, the charts drawn.
#include "report/report.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <memory>
#include <stdexcept>

#include <fmt/format.h>

#include "bench/probes/probe.h"
#include "harness/build_info.h"
#include "harness/external.h"
#include "harness/files.h"
#include "bench/sweeps/variant_table.h"
#include "harness/machine/cpu_model.h"
#include "report/html_report.h"
#include "report/section.h"

namespace flopslab::bench {
namespace fs = std::filesystem;

std::string chart(const std::string& dir, const std::string& file, const std::string& alt) {
  return fs::exists(fs::path(dir) / file) ? fmt::format("![{}]({})\n\n", alt, file) : "";
}

std::vector<std::unique_ptr<ReportSection>> report_sections() {
  std::vector<std::unique_ptr<ReportSection>> sections;
  sections.push_back(cpu_probes_section());
  sections.push_back(cpu_gemm_section());
  sections.push_back(cpu_conv_section());
  sections.push_back(training_section());
  sections.push_back(gpu_probes_section());
  sections.push_back(gpu_gemm_section());
  sections.push_back(gpu_conv_section());
  sections.push_back(roofline_section());
  return sections;
}

// "reports/<slug>-<date>", with "-2", "-3", ... appended if that exists already.
static std::string default_report_dir(const MachineInfo& machine) {
  const std::string base = fmt::format("reports/{}-{}", machine_slug(machine), today_utc());
  std::string dir = base;
  for (int n = 2; fs::exists(dir); ++n) dir = fmt::format("{}-{}", base, n);
  return dir;
}

std::string default_course_dir(const MachineInfo& machine) {
  const std::string base = fmt::format("reports/{}-{}", machine_slug(machine), today_utc());
  std::string latest;
  for (int n = 1; fs::exists(n == 1 ? base : fmt::format("{}-{}", base, n)); ++n)
    latest = n == 1 ? base : fmt::format("{}-{}", base, n);
  if (!latest.empty() && fs::exists(latest + "/report.json") && !fs::exists(latest + "/course.md")) return latest;
  return default_report_dir(machine);
}

std::string report_problem(const ReportOptions& o) {
  if (!o.out_dir.empty() && fs::exists(o.out_dir) && !o.force)
    return fmt::format("{} already exists; pass --force to replace it or choose another --out", o.out_dir);
  if (!o.out_dir.empty())
    if (const std::string problem = output_location_problem(o.out_dir); !problem.empty()) return "--out: " + problem;
  return {};
}

ReportOutcome write_report(const ReportOptions& o) {
  const auto started = std::chrono::steady_clock::now();
  const ProbeSession session({.quick = o.quick, .progress = o.progress});
  const MachineInfo& machine = session.machine;
  ReportOutcome out;
  out.dir = o.out_dir.empty() ? default_report_dir(machine) : o.out_dir;
  if (const std::string problem = output_location_problem(out.dir); !problem.empty()) throw OutputError(problem);
  // Everything is built in a staging directory beside the report and renamed at the end.
  const std::string staging = fmt::format("{}.partial-{}", out.dir, ::getpid());
  try {
    create_output_dir(staging);
    Json json{{"schema", "flopslab-report/1"},
              {"command", o.command_line},
              {"quick", o.quick},
              {"machine", machine_json(machine)},
              {"sections", Json::object()}};

    const ClockMeasurement& clock = session.clock;
    json["machine"]["cpu_model"] = cpu_peak_json(machine, clock);
    const std::vector<PeerLibraryLine> peers = cpu_peer_libraries();
    for (const PeerLibraryLine& p : peers)
      json["machine"]["peers"].push_back({{"kind", p.kind}, {"name", p.name}, {"available", p.available}, {"here", p.here}});
    const std::vector<std::unique_ptr<ReportSection>> sections = report_sections();
    const SectionInputs inputs{.options = o, .session = session};
    for (const auto& section : sections) {
      section->measure(inputs, json["sections"]);
      out.checks_passed = out.checks_passed && section->checks_passed;
    }

    json["duration_s"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    write_file_atomically(staging + "/report.json", json.dump(2) + "\n");

    if (o.progress) o.progress("drawing charts");
    out.plot_note = o.plots ? run_plot_script(staging) : "charts not drawn: --no-plots";

    const BuildInfo& b = build_info();
    std::string md = fmt::format("# flopslab report: {}\n\n", machine.cpu_brand);
    md += fmt::format("Measured {} by `{}` (flopslab {}, commit {}{}) in {:.0f} s.{}\n\n", machine.date_utc,
                      o.command_line, b.version, b.git_commit, b.git_dirty ? " with local changes" : "",
                      json["duration_s"].get<double>(),
                      o.quick ? " **Quick mode: tiny sizes and short timing, a smoke test, not a measurement.**" : "");
    if (!out.plot_note.empty()) md += fmt::format("> {}\n\n", out.plot_note);
    md += "## Machine\n\n```\n" + machine_summary(machine) + cpu_peak_summary(machine, clock) + "```\n\n";
    md += "Peer libraries (each measured in the same sweeps as flopslab's kernels; *best peer* is the fastest that "
          "ran):\n\n";
    for (const PeerLibraryLine& p : peers)
      md += fmt::format("- {} `{}`: {}{}\n", p.kind == "gemm" ? "GEMM" : "convolution", p.name,
                        p.available ? "" : "not in this run: ", p.here);
    md += "\n";
    for (const auto& section : sections) md += section->markdown(staging);
    write_file_atomically(staging + "/report.md", md);
    write_file_atomically(staging + "/report.html",
                          markdown_to_html(md, staging, fmt::format("flopslab report: {}", machine.cpu_brand)));

    if (fs::exists(out.dir)) {
      if (!o.force) throw std::runtime_error(out.dir + " appeared while the report ran; nothing was replaced");
      fs::remove_all(out.dir);
    }
    fs::rename(staging, out.dir);
  } catch (const fs::filesystem_error& e) {
    std::error_code ignored;
    fs::remove_all(staging, ignored);
    throw OutputError(fmt::format("cannot write {}: {}", out.dir, e.code().message()));
  } catch (const OutputError& e) {  // name the report's directory, not the staging one
    std::error_code ignored;
    fs::remove_all(staging, ignored);
    std::string message = e.what();
    if (const std::size_t at = message.find(staging); at != std::string::npos) message.replace(at, staging.size(), out.dir);
    throw OutputError(message);
  } catch (...) {
    std::error_code ignored;
    fs::remove_all(staging, ignored);
    throw;
  }
  for (const auto& entry : fs::directory_iterator(out.dir)) out.files.push_back(entry.path().filename().string());
  std::sort(out.files.begin(), out.files.end());
  return out;
}

}  // namespace flopslab::bench
