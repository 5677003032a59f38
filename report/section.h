// One section of `flopslab report`, each in its own file under report/sections/. A section
// first measures (and puts its figures under report.json's "sections"), then, once the charts
// are drawn from that JSON, writes its Markdown. write_report runs the list in report order.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "bench/probes/probe.h"
#include "bench/sweeps/conv_sweep.h"
#include "harness/json.h"
#include "report/report.h"

namespace flopslab::bench {

// What every section reads: the command's options and the probe session (machine, clock).
struct SectionInputs {
  const ReportOptions& options;
  const ProbeSession& session;
};

class ReportSection {
 public:
  virtual ~ReportSection() = default;
  // Runs the section's measurements and writes its entries into `sections`.
  virtual void measure(const SectionInputs& in, Json& sections) = 0;
  // The section's Markdown; `dir` holds the charts drawn from report.json.
  virtual std::string markdown(const std::string& dir) const = 0;
  // False when a kernel's result did not match its reference.
  bool checks_passed = true;
};

// The sections in report order: CPU probes, CPU GEMM, CPU convolution, training, the GPU's
// probes, GEMM and convolution (each of these says why it is left out without a GPU), and the
// roofline that places every kernel of them under the measured roofs.
std::vector<std::unique_ptr<ReportSection>> report_sections();

std::unique_ptr<ReportSection> cpu_probes_section();    // sections/probes.cpp
std::unique_ptr<ReportSection> gpu_probes_section();    // sections/probes.cpp
std::unique_ptr<ReportSection> cpu_gemm_section();      // sections/gemm.cpp
std::unique_ptr<ReportSection> gpu_gemm_section();      // sections/gemm.cpp
std::unique_ptr<ReportSection> cpu_conv_section();      // sections/conv.cpp
std::unique_ptr<ReportSection> gpu_conv_section();      // sections/gpu_conv.cpp
std::unique_ptr<ReportSection> training_section();      // sections/training.cpp
std::unique_ptr<ReportSection> roofline_section();      // sections/roofline.cpp: after all the others

// The convolution layers and timing both devices' sweeps use (sections/conv.cpp).
ConvSweepOptions report_conv_options(const SectionInputs& in);

// A Markdown image line for a chart, or nothing when scripts/plot did not draw it.
std::string chart(const std::string& dir, const std::string& file, const std::string& alt);

}  // namespace flopslab::bench
