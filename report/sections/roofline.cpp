// The report's roofline section (lesson 22): every GEMM and convolution point of the sections
// before it, placed under the roofs that the CPU (and GPU) probes measured in the same run.
#include <fmt/format.h>

#include "bench/roofline/roofline.h"
#include "harness/files.h"
#include "report/roofline_svg.h"
#include "report/section.h"

namespace flopslab::bench {
namespace {

class RooflineSection : public ReportSection {
 public:
  void measure(const SectionInputs&, Json& sections) override {
    roofline_ = roofline::roofline_from_sections(sections);
    json_ = sections["roofline"] = roofline::roofline_json(roofline_);
    // A point above its roof is shown as an error in the section, but does not fail the report:
    // the roofs are measured too, and a roof measured while other work held the cores is low.
  }

  std::string markdown(const std::string& dir) const override {
    std::string md = "## Roofline (lesson 22)\n\n";
    if (roofline_.placements.empty()) return md + "No GEMM, convolution or training points in this report.\n\n";
    md += "Each kernel of the sections above at its arithmetic intensity (FLOPs per compulsory byte: inputs read "
          "once, output written once) under this run's roofs: attainable = min(compute roof, intensity x the "
          "bandwidth of the cache level that holds its working set). Real kernels move more than the compulsory "
          "bytes, so a point can sit below a memory roof for that reason too; a point above its roof means a wrong "
          "count or roof and is flagged.\n\n";
    if (roofline_.flagged() > 0)
      md += fmt::format("**Error: {} point{} above {} roof (see the note column): a FLOP count, a byte count or a roof "
                        "is wrong. A roof measured while other work held the cores comes out low; if the probes' "
                        "tables above show that, run the report again on an idle machine.**\n\n",
                        roofline_.flagged(), roofline_.flagged() == 1 ? "" : "s",
                        roofline_.flagged() == 1 ? "its" : "their");
    md += chart(dir, "roofline.png", "roofline: every kernel under the measured roofs");
    // The same chart drawn in report.html, each point's figures and bound on hover.
    if (const std::string svg = roofline_svg(json_); !svg.empty()) {
      write_file_atomically(dir + "/roofline.svg", svg);
      md += "The same chart for the browser (report.html): hold the pointer on a point for its name, figures and "
            "bound.\n\n![roofline, points named on hover](roofline.svg)\n\n";
    }
    md += "The roofs:\n\n" + roofline::roofs_table(roofline_.roofs).markdown() + "\n";
    const std::vector<std::string> worst = roofline::furthest_below(roofline_, 3);
    if (!worst.empty()) {
      md += "Furthest below their roof:\n\n";
      for (const std::string& line : worst) md += "- " + line + "\n";
      md += "\n";
    }
    md += "Every kernel:\n\n" + roofline::roofline_table(roofline_, 0, roofline::PointSet::kernels).markdown() + "\n";
    if (const std::string note = roofline::measured_intensity_note(roofline_); !note.empty()) md += note + "\n\n";
    const std::vector<std::string> training = roofline::training_summary(roofline_);
    if (!training.empty()) {
      md += "### The training stack on the roofline\n\nEach layer of the MLP and the CNN in a training step at several "
            "batch sizes (forward and backward, mean time per step from the training loop's own timers), and the "
            "whole step: the layers' FLOPs and compulsory bytes summed, plus Adam's traffic (28 bytes per "
            "parameter), over the step's median time. Layers that only move data (ReLU, BatchNorm, pooling) are "
            "placed by GB/s.\n\n";
      for (const std::string& line : training) md += "- " + line + "\n";
      md += "\n" + chart(dir, "roofline-training.png", "training layers on the roofline, by batch size");
      md += roofline::roofline_table(roofline_, 0, roofline::PointSet::training).markdown() + "\n";
    }
    return md;
  }

 private:
  roofline::Roofline roofline_;
  Json json_;
};

}  // namespace

std::unique_ptr<ReportSection> roofline_section() { return std::make_unique<RooflineSection>(); }

}  // namespace flopslab::bench
