// `flopslab conv`: the convolution ladder against oneDNN, or with --device cuda the CUDA kernels against cuDNN.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "cli/args.h"
#include "cli/command.h"
#include "bench/sweeps/conv_sweep.h"
#include "bench/sweeps/gpu_conv.h"
#include "bench/sweeps/variant_table.h"
#include "harness/machine/machine.h"
#include "harness/progress.h"
#include "harness/table.h"

namespace flopslab::cli {
namespace {

struct ConvArgs {
  std::string device = "cpu", impl = "all", pass = "forward", threads, json, max_call_seconds;
  std::vector<std::string> shapes;
  bool quick = false, no_progress = false, study = false;
};

int run_conv(const ConvArgs& a, const std::string& command) {
  const bench::MachineInfo machine = bench::describe_machine();
  const bool gpu = wants_gpu("conv", a.device, machine);
  bench::ConvSweepOptions o{.layers = bench::default_conv_layers(a.quick)};
  o.threads = {machine.physical_cores};
  if (a.quick) o.timing = bench::quick_timing(), o.interleave_rounds = 1;
  if (!a.shapes.empty()) {
    o.layers.clear();
    for (const std::string& text : a.shapes) {
      const conv::Shape shape = parse_conv_shape("--shape", text);
      o.layers.push_back({conv::describe(shape), shape});
    }
  }
  o.passes = parse_passes("--pass", a.pass);
  if (!a.threads.empty()) {
    if (gpu) throw UsageError("--threads: applies to --device cpu only");
    o.threads = parse_threads("--threads", a.threads, machine.physical_cores);
  }
  o.variants = parse_conv_variants("--impl", a.impl, gpu ? Device::cuda : Device::cpu);
  if (!a.max_call_seconds.empty()) o.max_call_seconds = parse_seconds("--max-call-seconds", a.max_call_seconds);
  check_output_file("--json", a.json);
  if (a.study && !gpu) throw UsageError("--study: studies cuDNN's algorithms; use it with --device cuda");
  if (const std::string problem = gpu ? bench::gpu_conv_sweep_problem(o) : bench::conv_sweep_problem(o); !problem.empty())
    throw UsageError("conv: " + problem);
  if (!gpu) warn_oversubscription(o.threads, machine.logical_cpus);

  bench::Progress progress(!a.no_progress);
  o.progress = [&](const std::string& line) { progress(line); };
  const bench::ConvSweep sweep = gpu ? bench::run_gpu_conv_sweep(o) : bench::run_conv_sweep(o);
  std::optional<bench::CudnnStudy> study;
  if (a.study) study = bench::run_cudnn_study(o.layers.front(), o.timing, o.progress);
  progress.finish();

  std::printf("%s\n", bench::conv_variant_table(o.variants).text().c_str());
  std::printf("%s\n", bench::conv_sweep_table(sweep).text().c_str());
  for (const std::string& line : bench::conv_sweep_headlines(sweep)) std::printf("%s\n", line.c_str());
  if (study) {
    std::printf("\ncuDNN %s, its algorithms for %s:\n", study->version.c_str(), conv::describe(study->layer.shape).c_str());
    for (const bench::Table& table : bench::cudnn_algorithm_tables(*study)) std::printf("%s\n", table.text().c_str());
    for (const std::string& line : bench::cudnn_study_lines(*study)) std::printf("%s\n", line.c_str());
  }
  Json json{{"schema", "flopslab-conv/1"},
            {"command", command},
            {"machine", bench::machine_json(machine)},
            {"conv", bench::conv_sweep_json(sweep)}};
  if (study) json["cudnn_study"] = bench::cudnn_study_json(*study);
  return finish_sweep(a.json, json, sweep.all_checks_passed());
}

}  // namespace

CLI::App* add_conv_command(CLI::App& app, CommandRun& run) {
  auto a = std::make_shared<ConvArgs>();
  auto* sub = app.add_subcommand(
      "conv", "Run the convolution ladder (direct -> im2col + GEMM -> implicit GEMM, 1x1 as a GEMM, the batch-wide GEMMs, "
      "direct on the blocked layout, the direct weight gradient, the per-shape choice, Winograd) against "
              "oneDNN, or with --device cuda the CUDA kernels against cuDNN");
  sub->add_option("--device", a->device, "cpu or cuda  [cpu]")->type_name("DEVICE");
  sub->add_option("--shape", a->shapes,
                   "A layer as N,C,H,W,K,R,S[,stride[,pad[,dilation[,groups]]]]; stride, pad and dilation one number or "
                   "HxW (a 7x1 filter with pad 3x0); repeat for more layers  "
                   "[ResNet-like 3x3, 1x1, 7x7 and its 1x7/7x1 factors, grouped and depthwise 3x3, batch 8]")
      ->type_name("SHAPE");
  sub->add_option("--impl", a->impl,
                   "'all' or a comma-separated list of: " + conv_variant_names(Device::cpu) +
                       (conv_variant_names(Device::cuda).empty() ? "" : "; with --device cuda: " + conv_variant_names(Device::cuda)))
      ->type_name("LIST");
  sub->add_option("--pass", a->pass, "forward, backward-data, backward-weights (comma-separated) or all  [forward]")
      ->type_name("LIST");
  sub->add_option("--threads", a->threads, "Comma-separated thread counts, or 'all'  [physical cores]")
      ->type_name("LIST");
  add_json_option(*sub, a->json, "every result, with the machine,");
  sub->add_option("--max-call-seconds", a->max_call_seconds,
                   "Skip a variant on a layer where one call is predicted to take longer  [3]")
      ->type_name("S");
  sub->add_flag("--study", a->study,
                 "With --device cuda: also list every cuDNN algorithm for the first layer (cudnnFind times, the "
                 "heuristic's pick, benchmark vs deterministic mode, TF32 and FP16)");
  add_quick_flag(*sub, a->quick, "Small layers and short timing (a smoke test)");
  add_no_progress_flag(*sub, a->no_progress);

  run = [a](const std::string& command) { return run_conv(*a, command); };
  return sub;
}

}  // namespace flopslab::cli
