// `flopslab compare A B [--out DIR] [--force] [--no-plots]`.
#include "cli/command.h"

#include <cstdio>
#include <filesystem>
#include <memory>

#include <fmt/format.h>

#include "harness/files.h"
#include "report/report.h"
#include "report/report_compare.h"
#include "cli/args.h"
#include "harness/external.h"

namespace flopslab::cli {
namespace {

namespace fs = std::filesystem;

struct CompareArgs {
  std::string a, b, out;
  bool force = false, no_plots = false;
};

int run_compare(const CompareArgs& args) {
  bench::ReportComparison c;
  try {
    c = bench::compare_reports(bench::read_report(args.a), bench::read_report(args.b));
  } catch (const std::invalid_argument& e) {
    throw UsageError(std::string("compare: ") + e.what());
  }
  if (!args.out.empty() && fs::exists(args.out) && !args.force)
    throw UsageError("compare: " + args.out + " already exists; pass --force to replace it or choose another --out");
  check_output_dir("compare: --out", args.out);
  std::string md = fmt::format("# flopslab compare\n\nA: `{}` ({})\n\nB: `{}` ({})\n\nRatios are B / A.\n", args.a,
                               c.machine_a, args.b, c.machine_b);
  std::printf("A: %s (%s)\nB: %s (%s)\nRatios are B / A; \"better\" names the faster, or lower-latency, side.\n",
              args.a.c_str(), c.machine_a.c_str(), args.b.c_str(), c.machine_b.c_str());
  for (const auto& [section, table] : bench::comparison_tables(c)) {
    std::printf("\n%s\n\n%s", section.c_str(), table.text().c_str());
    md += fmt::format("\n## {}\n\n{}", section, table.markdown());
  }
  auto list = [&](const char* what, const std::vector<std::string>& items) {
    if (items.empty()) return;
    std::string line = fmt::format("{} ({}):", what, items.size());
    for (std::size_t i = 0; i < items.size(); ++i) line += (i ? "; " : " ") + items[i];
    std::printf("\n%s\n", line.c_str());
    md += "\n" + line + "\n";
  };
  list("Sections only in A", c.sections_a_only);
  list("Sections only in B", c.sections_b_only);
  list("Figures only in A", c.only_a);
  list("Figures only in B", c.only_b);
  if (args.out.empty()) return 0;
  bench::create_output_dir(args.out);
  bench::write_file_atomically(args.out + "/compare.json", bench::comparison_json(c).dump(2) + "\n");
  bench::write_file_atomically(args.out + "/compare.md", md);
  const std::string note = args.no_plots ? "charts not drawn: --no-plots" : bench::run_plot_script(args.out);
  std::printf("\nWrote %s/compare.md and compare.json%s.\n", args.out.c_str(),
              note.empty() ? " and one chart of the ratios per section (compare_*.png), both rooflines in compare_roofline.png"
                           : ("; " + note).c_str());
  return 0;
}

}  // namespace

CLI::App* add_compare_command(CLI::App& app, CommandRun& run) {
  auto a = std::make_shared<CompareArgs>();
  auto* sub = app.add_subcommand("compare", "Two reports side by side: every headline figure with the ratio B / A, "
                                            "grouped by section; sections and figures only one has are listed");
  sub->add_option("A", a->a, "A report directory (holding report.json)")->required();
  sub->add_option("B", a->b, "Another report directory")->required();
  sub->add_option("--out", a->out, "Also write compare.md, compare.json and the ratio charts to DIR")->type_name("DIR");
  add_force_flag(*sub, a->force, "Replace --out if it exists");
  add_no_plots_flag(*sub, a->no_plots, "Do not draw the charts");
  run = [a](const std::string&) { return run_compare(*a); };
  return sub;
}

}  // namespace flopslab::cli
