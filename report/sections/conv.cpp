// The report's convolution section on the CPU (lessons 09-11): every CPU variant on the layer
// list against oneDNN, and the channel shuffle against memcpy in the caches and from memory.
#include <algorithm>

#include <fmt/format.h>

#include "bench/sweeps/conv_sweep.h"
#include "bench/sweeps/variant_table.h"
#include "harness/format.h"
#include "report/section.h"

namespace flopslab::bench {

ConvSweepOptions report_conv_options(const SectionInputs& in) {
  ConvSweepOptions options{.layers = default_conv_layers(in.options.quick), .threads = {in.session.machine.physical_cores}};
  for (const ConvVariant* v : conv_variants())
    if (v->device == Device::cpu) options.variants.push_back(v);
  if (in.options.quick) options.timing = quick_timing(), options.interleave_rounds = 1;
  options.progress = in.options.progress;
  return options;
}

namespace {

std::string conv_markdown(const ConvSweep& sweep, const std::vector<const ConvVariant*>& variants,
                          const std::vector<ShuffleMeasurement>& shuffles, const std::string& dir) {
  std::string md = "## Convolution on the CPU (lessons 09-11)\n\n";
  md += "NCHW single precision, forward pass, all physical cores. Each implementation (kernels/cpu/conv) was checked "
        "against a float64 reference with an error bound that grows with the number of products "
        "(harness/check/conv_check.h). *Speed vs best peer* is the peer's median time over this row's: a ratio of times, "
        "not of FLOP rates. oneDNN is given NCHW and converts to its own blocked layout and back inside the call. "
        "The GPU's convolutions are in the GPU part of this report.\n\n";
  for (const std::string& line : conv_sweep_headlines(sweep)) md += "- " + line + "\n";
  md += "\n" + conv_variant_table(variants).markdown() + "\n";
  md += chart(dir, "conv_layers.png", "Convolution: time per layer and implementation");
  md += conv_sweep_table(sweep).markdown() + "\n";
  md += "Channel shuffle against memcpy of the same bytes (a tensor that fits in the caches and, in a full run, one "
        "four times the last-level cache that must come from memory):\n\n";
  for (const ShuffleMeasurement& shuffle : shuffles)
    md += fmt::format("- {}x{}x{} floats ({}) in {} groups: {} GB/s against {} GB/s for memcpy ({}), {} threads; {}.\n",
                      shuffle.n, shuffle.c, shuffle.plane, format_bytes(4.0 * double(shuffle.n * shuffle.c * shuffle.plane)),
                      shuffle.groups, format_rate(shuffle.shuffle_gbps()), format_rate(shuffle.copy_gbps()),
                      format_percent(shuffle.shuffle_gbps() / shuffle.copy_gbps()), shuffle.threads,
                      shuffle.correct ? "every channel checked" : "**WRONG RESULT**");
  md += "\n";
  return md;
}

class CpuConv final : public ReportSection {
 public:
  void measure(const SectionInputs& in, Json& sections) override {
    const ConvSweepOptions options = report_conv_options(in);
    const MachineInfo& machine = in.session.machine;
    const bool quick = in.options.quick;
    variants_ = options.variants;
    sweep_ = run_conv_sweep(options);
    if (in.options.progress) in.options.progress("channel shuffle against memcpy");
    // A ShuffleNet-sized activation that stays in the caches, and one four times the size of a
    // large last-level cache (sized from this machine's) that streams from memory.
    std::int64_t llc_bytes = 8 << 20;
    for (int level = 1; level <= 4; ++level) llc_bytes = std::max(llc_bytes, cache_bytes(machine, level));
    const std::int64_t llc_floats = llc_bytes / 4;
    shuffles_.push_back(measure_channel_shuffle(quick ? 2 : 8, quick ? 32 : 128, quick ? 196 : 784, 8,
                                                machine.physical_cores, options.timing));
    if (!quick)
      shuffles_.push_back(measure_channel_shuffle(std::max<std::int64_t>(1, 4 * llc_floats / (256 * 3136)), 256, 3136,
                                                  8, machine.physical_cores, options.timing));
    Json& section = sections["conv"] = conv_sweep_json(sweep_);
    section["headlines"] = conv_sweep_headlines(sweep_);
    Json rows = Json::array();
    checks_passed = sweep_.all_checks_passed();
    for (const ShuffleMeasurement& m : shuffles_) {
      rows.push_back(shuffle_json(m));
      checks_passed = checks_passed && m.correct;
    }
    section["channel_shuffle"] = rows;
  }
  std::string markdown(const std::string& dir) const override { return conv_markdown(sweep_, variants_, shuffles_, dir); }

 private:
  std::vector<const ConvVariant*> variants_;
  ConvSweep sweep_;
  std::vector<ShuffleMeasurement> shuffles_;
};

}  // namespace

std::unique_ptr<ReportSection> cpu_conv_section() { return std::make_unique<CpuConv>(); }

}  // namespace flopslab::bench
