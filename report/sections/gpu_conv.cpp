// The report's convolution section on the GPU (lessons 09-11): the CUDA kernels against cuDNN
// on the CPU section's layers, all three passes; cuDNN's own algorithms for the first layer;
// the GPU channel shuffle against a device-to-device copy.
#include <optional>

#include <fmt/format.h>

#include "bench/sweeps/gpu_conv.h"
#include "bench/sweeps/variant_table.h"
#include "harness/format.h"
#include "harness/machine/gpu_runtime.h"
#include "report/section.h"

namespace flopslab::bench {
namespace {

// The GPU's convolutions: the sweep over all three passes, cuDNN's algorithms for the first
// layer, and the GPU channel shuffle.
struct GpuConvResults {
  ConvSweep sweep;
  std::vector<const ConvVariant*> variants;
  CudnnStudy study;
  ShuffleMeasurement shuffle;
};

std::string gpu_conv_markdown(const GpuConvResults& r, const std::string& dir) {
  std::string md = "## Convolution on the GPU (lessons 09-11)\n\n";
  md += "NCHW single precision, the same layers as on the CPU, forward and both backward passes. Each result was checked "
        "against the float64 reference on the host (NaN-poisoned output first), then timed with CUDA events. *Speed vs "
        "best peer* is cuDNN's median time (FP32 with FMA math, the faster of its fastest-found and IMPLICIT_GEMM "
        "algorithms) over this row's. cuDNN with TF32 tensor cores is a context row.\n\n";
  for (const std::string& line : conv_sweep_headlines(r.sweep)) md += "- " + line + "\n";
  md += "\n" + conv_variant_table(r.variants).markdown() + "\n";
  md += chart(dir, "conv_layers_gpu.png", "Convolution on the GPU: time per layer and implementation");
  md += conv_sweep_table(r.sweep).markdown() + "\n";
  if (r.study.unavailable.empty()) {
    md += fmt::format("### cuDNN {}: its algorithms for {}\n\n", r.study.version, conv::describe(r.study.layer.shape));
    md += "cudnnFind runs every algorithm and reports its time, workspace and whether cuDNN promises the same bits on "
          "every run. *Benchmark mode* takes the fastest; *deterministic mode* the fastest of the deterministic ones. "
          "Each was run 5 times on the same inputs and the outputs compared bit for bit. Winograd and FFT algorithms do "
          "fewer multiplies than the direct count, so compare times, not FLOP rates.\n\n";
  }
  for (const std::string& line : cudnn_study_lines(r.study)) md += "- " + line + "\n";
  md += "\n";
  for (const Table& table : cudnn_algorithm_tables(r.study)) md += table.markdown() + "\n";
  md += fmt::format("GPU channel shuffle of {}x{}x{} floats in {} groups: {} GB/s against {} GB/s for a device-to-device "
                    "copy of the same bytes ({}); {}.\n\n",
                    r.shuffle.n, r.shuffle.c, r.shuffle.plane, r.shuffle.groups, format_rate(r.shuffle.shuffle_gbps()),
                    format_rate(r.shuffle.copy_gbps()), format_percent(r.shuffle.shuffle_gbps() / r.shuffle.copy_gbps()),
                    r.shuffle.correct ? "every channel checked" : "**WRONG RESULT**");
  return md;
}

class GpuConv final : public ReportSection {
 public:
  void measure(const SectionInputs& in, Json& sections) override {
    const GpuStatus& gpu = gpu_status();
    usable_ = gpu.usable;
    if (!usable_) return;
    const bool quick = in.options.quick;
    ConvSweepOptions options = report_conv_options(in);
    options.variants = cuda_conv_variants();
    options.passes = {conv::Pass::forward, conv::Pass::backward_data, conv::Pass::backward_weights};
    options.threads = {1};
    problem_ = gpu_conv_sweep_problem(options);
    if (!problem_.empty()) return;
    results_ = GpuConvResults{.sweep = run_gpu_conv_sweep(options), .variants = options.variants};
    results_->study = run_cudnn_study(options.layers.front(), options.timing, in.options.progress);
    if (in.options.progress) in.options.progress("GPU channel shuffle against a device-to-device copy");
    results_->shuffle =
        measure_gpu_channel_shuffle(quick ? 2 : 32, quick ? 32 : 256, quick ? 196 : 3136, 8, options.timing);
    Json& section = sections["gpu_conv"] = conv_sweep_json(results_->sweep);
    section["device_name"] = gpu.devices.front().name;
    section["headlines"] = conv_sweep_headlines(results_->sweep);
    section["cudnn_study"] = cudnn_study_json(results_->study);
    section["channel_shuffle"] = shuffle_json(results_->shuffle);
    checks_passed = results_->sweep.all_checks_passed() && results_->shuffle.correct;
  }
  std::string markdown(const std::string& dir) const override {
    if (!usable_) return "";
    return results_ ? gpu_conv_markdown(*results_, dir) : "Convolution on the GPU left out: " + problem_ + "\n\n";
  }

 private:
  bool usable_ = false;
  std::string problem_;
  std::optional<GpuConvResults> results_;
};

}  // namespace

std::unique_ptr<ReportSection> gpu_conv_section() { return std::make_unique<GpuConv>(); }

}  // namespace flopslab::bench
