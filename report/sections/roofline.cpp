// The report's roofline section (lesson 22): every GEMM and convolution point of the sections
// before it, placed under the roofs that the CPU (and GPU) probes measured in the same run.
#include <fmt/format.h>

#include "bench/roofline/roofline.h"
#include "report/section.h"

namespace flopslab::bench {
namespace {

class RooflineSection : public ReportSection {
 public:
  void measure(const SectionInputs&, Json& sections) override {
    roofline_ = roofline::roofline_from_sections(sections);
    sections["roofline"] = roofline::roofline_json(roofline_);
    // A point above its roof is a wrong FLOP count, byte count or roof: a failed check.
    checks_passed = roofline_.flagged() == 0;
  }

  std::string markdown(const std::string& dir) const override {
    std::string md = "## Roofline (lesson 22)\n\n";
    if (roofline_.placements.empty()) return md + "No GEMM or convolution points in this report.\n\n";
    md += "Each kernel of the sections above at its arithmetic intensity (FLOPs per compulsory byte: inputs read "
          "once, output written once) under this run's roofs: attainable = min(compute roof, intensity x the "
          "bandwidth of the cache level that holds its working set). Real kernels move more than the compulsory "
          "bytes, so a point can sit below a memory roof for that reason too; a point above its roof means a wrong "
          "count or roof and is flagged.\n\n";
    if (roofline_.flagged() > 0)
      md += fmt::format("**{} point{} above {} roof: see the note column.**\n\n", roofline_.flagged(),
                        roofline_.flagged() == 1 ? "" : "s", roofline_.flagged() == 1 ? "its" : "their");
    md += chart(dir, "roofline.png", "roofline: every kernel under the measured roofs");
    md += "The roofs:\n\n" + roofline::roofs_table(roofline_.roofs).markdown() + "\n";
    const std::vector<std::string> worst = roofline::furthest_below(roofline_, 3);
    if (!worst.empty()) {
      md += "Furthest below their roof:\n\n";
      for (const std::string& line : worst) md += "- " + line + "\n";
      md += "\n";
    }
    md += "Every point:\n\n" + roofline::roofline_table(roofline_).markdown() + "\n";
    return md;
  }

 private:
  roofline::Roofline roofline_;
};

}  // namespace

std::unique_ptr<ReportSection> roofline_section() { return std::make_unique<RooflineSection>(); }

}  // namespace flopslab::bench
