// The report's GEMM sections: the CPU ladder and its peers (lesson 05) and the CUDA ladder
// against cuBLAS (lesson 07). Both halves share their Markdown, as their sweeps share a table.
#include <cmath>
#include <optional>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "bench/sweeps/gemm_sweep.h"
#include "bench/sweeps/gpu_gemm.h"
#include "bench/sweeps/variant_table.h"
#include "harness/format.h"
#include "harness/machine/gpu_runtime.h"
#include "report/section.h"

namespace flopslab::bench {
namespace {

std::string gemm_markdown(const GemmSweep& sweep, const std::string& dir, bool gpu) {
  std::string md = gpu ? "## GEMM on the GPU (lesson 07)\n\n" : "## GEMM on the CPU (lesson 05)\n\n";
  if (gpu) {
    md += "C = A·B in single precision, row-major, square sizes, on the GPU. Each rung (kernels/cuda/gemm) was checked "
          "against cuBLAS FP32's result (|c - ref| <= atol + rtol·|ref|, tolerances growing with k; no NaN) and "
          "against the float64 reference on the host, then timed with CUDA events (the L2 flushed between calls "
          "when the matrices would fit in it). *% peak* is relative to the FP32 FMA throughput measured on this GPU "
          "in the same run";
    md += std::isfinite(sweep.gpu_peak_gflops) ? fmt::format(" ({} GFLOP/s)", format_rate(sweep.gpu_peak_gflops)) : "";
    md += ". *vs best peer* divides by cuBLAS FP32 (TF32 off). cuBLAS with TF32 and BF16 tensor cores are context "
          "rows: a different precision, shown for scale.\n\n";
  } else {
    md += "C = A·B in single precision, row-major, square sizes. Each rung of the ladder (kernels/cpu/gemm) and each "
          "peer library was checked against a float64 reference before timing, with an error bound that grows with k "
          "(harness/check/gemm_check.h). GFLOP/s are 2·m·n·k over the median time per call; *spread* is half the "
          "interquartile range of the samples, relative to the median. *% peak* is relative to the FP32 FMA "
          "throughput measured in the same run (the fastest call of the FMA loop, before and after the sweep)";
    std::vector<std::string> peaks;
    for (const PeakMeasurement& p : sweep.peaks)
      peaks.push_back(fmt::format("{} GFLOP/s on {} thread{}", format_rate(p.gflops()), p.threads, p.threads == 1 ? "" : "s"));
    if (!peaks.empty()) md += fmt::format(" ({} loop: {})", sweep.peaks.front().loop->name, fmt::join(peaks, ", "));
    md += ". *vs best peer* divides by the fastest peer library that ran (OpenBLAS and oneDNN; oneMKL and PyPI's "
          "OpenBLAS where scripts/setup-peers --blas installed them) at the same size and thread count; *vs naive* by "
          "the one-thread naive loop.\n\n";
  }
  for (const std::string& line : gemm_sweep_headlines(sweep)) md += "- " + line + "\n";
  md += "\n" + gemm_variant_table(sweep.variants).markdown() + "\n";
  md += gpu ? chart(dir, "gemm_ladder_gpu.png", "CUDA GEMM ladder: GFLOP/s per rung and size")
            : chart(dir, "gemm_ladder.png", "GEMM ladder: GFLOP/s per rung and size");
  md += gemm_sweep_table(sweep).markdown() + "\n";
  return md;
}

class CpuGemm final : public ReportSection {
 public:
  void measure(const SectionInputs& in, Json& sections) override {
    GemmSweepOptions options = default_gemm_sweep(in.session.machine.physical_cores, in.options.quick);
    options.progress = in.options.progress;
    sweep_ = run_gemm_sweep(options);
    sections["gemm"] = gemm_sweep_json(sweep_);
    sections["gemm"]["headlines"] = gemm_sweep_headlines(sweep_);
    checks_passed = sweep_.all_checks_passed();
  }
  std::string markdown(const std::string& dir) const override { return gemm_markdown(sweep_, dir, false); }

 private:
  GemmSweep sweep_;
};

class GpuGemm final : public ReportSection {
 public:
  void measure(const SectionInputs& in, Json& sections) override {
    usable_ = gpu_status().usable;
    if (!usable_) return;
    GemmSweepOptions options = default_gpu_gemm_sweep(in.options.quick);
    options.progress = in.options.progress;
    problem_ = gpu_gemm_sweep_problem(options);
    if (!problem_.empty()) return;
    sweep_ = run_gpu_gemm_sweep(options);
    sections["gpu_gemm"] = gemm_sweep_json(*sweep_);
    sections["gpu_gemm"]["headlines"] = gemm_sweep_headlines(*sweep_);
    checks_passed = sweep_->all_checks_passed();
  }
  std::string markdown(const std::string& dir) const override {
    if (!usable_) return "";
    return sweep_ ? gemm_markdown(*sweep_, dir, true) : "GEMM on the GPU left out: " + problem_ + "\n\n";
  }

 private:
  bool usable_ = false;
  std::string problem_;
  std::optional<GemmSweep> sweep_;
};

}  // namespace

std::unique_ptr<ReportSection> cpu_gemm_section() { return std::make_unique<CpuGemm>(); }
std::unique_ptr<ReportSection> gpu_gemm_section() { return std::make_unique<GpuGemm>(); }

}  // namespace flopslab::bench
