// `flopslab gemm`: the CPU GEMM ladder against OpenBLAS and oneDNN, or the CUDA one against cuBLAS.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "cli/args.h"
#include "cli/command.h"
#include "bench/sweeps/gemm_sweep.h"
#include "bench/sweeps/gpu_gemm.h"
#include "harness/format.h"
#include "harness/machine/machine.h"
#include "harness/progress.h"
#include "kernels/cpu/probes/fma_chains.h"

namespace flopslab::cli {
namespace {

struct GemmArgs {
  std::string device = "cpu", sizes, threads, variants = "all", json, max_call_seconds;
  bool quick = false, no_progress = false;
};

int run_gemm(const GemmArgs& a, const std::string& command) {
  const bench::MachineInfo machine = bench::describe_machine();
  const bool gpu = wants_gpu("gemm", a.device, machine);
  bench::GemmSweepOptions o = gpu ? bench::default_gpu_gemm_sweep(a.quick) : bench::default_gemm_sweep(machine.physical_cores, a.quick);
  if (!a.sizes.empty()) o.shapes = parse_sizes("--sizes", a.sizes);
  if (!a.threads.empty()) {
    if (gpu) throw UsageError("--threads: applies to --device cpu only");
    o.threads = parse_threads("--threads", a.threads, machine.physical_cores);
  }
  o.variants = parse_variants("--variants", a.variants, gpu ? Device::cuda : Device::cpu);
  if (!a.max_call_seconds.empty()) o.max_call_seconds = parse_seconds("--max-call-seconds", a.max_call_seconds);
  check_output_file("--json", a.json);
  if (const std::string problem = gpu ? bench::gpu_gemm_sweep_problem(o) : bench::gemm_sweep_problem(o); !problem.empty())
    throw UsageError("gemm: " + problem);
  if (!gpu) warn_oversubscription(o.threads, machine.logical_cpus);

  bench::Progress progress(!a.no_progress);
  o.progress = [&](const std::string& line) { progress(line); };
  const bench::GemmSweep sweep = gpu ? bench::run_gpu_gemm_sweep(o) : bench::run_gemm_sweep(o);
  progress.finish();
  if (gpu) std::printf("Measured GPU FP32 peak (FMA chains on every SM): %s GFLOP/s\n", bench::format_rate(sweep.gpu_peak_gflops).c_str());

  for (const bench::PeakMeasurement& p : sweep.peaks)
    std::printf("Measured FP32 peak (%s): %s GFLOP/s on %d thread%s\n", probes::loop_label(*p.loop).c_str(),
                bench::format_rate(p.gflops()).c_str(), p.threads, p.threads == 1 ? "" : "s");
  std::printf("\n%s\n", bench::gemm_variant_table(sweep.variants).text().c_str());
  std::printf("%s\n", bench::gemm_sweep_table(sweep).text().c_str());
  for (const std::string& line : bench::gemm_sweep_headlines(sweep)) std::printf("%s\n", line.c_str());

  const Json json{{"schema", "flopslab-gemm/1"},
                  {"command", command},
                  {"machine", bench::machine_json(machine)},
                  {"gemm", bench::gemm_sweep_json(sweep)}};
  return finish_sweep(a.json, json, sweep.all_checks_passed());
}

}  // namespace

CLI::App* add_gemm_command(CLI::App& app, CommandRun& run) {
  auto a = std::make_shared<GemmArgs>();
  auto* sub = app.add_subcommand(
      "gemm", "Run a GEMM ladder: the CPU's (naive -> loop order -> blocking -> packed SIMD -> OpenMP) against "
              "OpenBLAS and oneDNN (and oneMKL once scripts/setup-peers --blas installed it), or the CUDA one against "
              "cuBLAS");
  sub->add_option("--device", a->device, "cpu (the CPU ladder) or cuda (the CUDA ladder against cuBLAS)  [cpu]")
      ->type_name("DEVICE");
  sub->add_option("--sizes", a->sizes,
                   "Comma-separated sizes: N (N x N x N) or MxNxK  [cpu: 256,512,1024,2048; cuda: 1024,2048,4096]")
      ->type_name("LIST");
  sub->add_option("--threads", a->threads, "Comma-separated thread counts, or 'all'  [1,<physical cores>]")
      ->type_name("LIST");
  sub->add_option("--variants", a->variants,
                   "'all' or a comma-separated list of: " + variant_names(Device::cpu) +
                       (variant_names(Device::cuda).empty() ? "" : "; with --device cuda: " + variant_names(Device::cuda)))
      ->type_name("LIST");
  add_json_option(*sub, a->json, "every result, with the machine,");
  sub->add_option("--max-call-seconds", a->max_call_seconds,
                   "Skip a variant at a size where one call is predicted to take longer  [1.5]")
      ->type_name("S");
  add_quick_flag(*sub, a->quick, "Tiny sizes and short timing (a smoke test)");
  add_no_progress_flag(*sub, a->no_progress);

  run = [a](const std::string& command) { return run_gemm(*a, command); };
  return sub;
}

}  // namespace flopslab::cli
