// `flopslab infer --model cnn|inception [--checkpoint FILE] [--batch N]`.
#include "cli/command.h"

#include <cstdio>
#include <memory>

#include <fmt/format.h>

#include "harness/files.h"
#include "bench/training/inference_bench.h"
#include "harness/machine/machine.h"
#include "cli/args.h"

namespace flopslab::cli {
namespace {

struct InferArgs {
  std::string model = "cnn", checkpoint, batch = "64", threads, json;
  bool quick = false, no_progress = false, no_peers = false;
};

int run_infer(const InferArgs& a) {
  bench::InferenceOptions o{.model = a.model, .checkpoint = a.checkpoint, .quick = a.quick};
  o.peers = !a.no_peers;
  o.batch = parse_integer("--batch", a.batch, 0, 1LL << 40);
  o.threads = a.threads.empty() ? bench::describe_machine().physical_cores
                                : int(parse_integer("--threads", a.threads, 1, kMaxThreads));
  if (const std::string problem = bench::inference_problem(o); !problem.empty()) throw UsageError("infer: " + problem);
  check_output_file("--json", a.json);
  if (!a.no_progress) o.progress = [](const std::string& s) { std::fprintf(stderr, "infer: %s\n", s.c_str()); };
  const bench::InferenceResult r = bench::run_inference_bench(o);

  std::printf("%s, evaluation mode, %d threads; %s\n\n", r.model.c_str(), r.threads, r.source.c_str());
  std::printf("Fused plan:\n");
  for (std::size_t i = 0; i < r.plan.size(); ++i) std::printf("  %zu  %s\n", i, r.plan[i].c_str());
  const nn::FusionCounts& c = r.counts;
  std::printf("\n%d batch norms folded (W' = W*gamma/sqrt(var+eps), b' = (b-mean)*gamma/sqrt(var+eps)+beta); "
              "%d epilogues fused, %d passes over an output removed; %d stacked GEMM(s) of %d 1x1 convolutions; "
              "%d concatenation copies removed, %d left\n\n",
              c.folded_batch_norms, c.fused_epilogues, c.passes_removed, c.stacked_gemms, c.stacked_convolutions,
              c.concat_copies_removed, c.concat_copies_left);
  std::printf("%s\n", bench::inference_error_table(r).text().c_str());
  std::printf("Whole model at batch %lld: max |fused - unfused| %.2e, relative (to max |unfused|) %.2e, bound %.0e\n\n",
              static_cast<long long>(o.batch), r.max_abs, r.relative, bench::kFusionBound);
  std::printf("Each step at batch %lld (its input: the fused steps before it):\n%s\n",
              static_cast<long long>(o.batch), bench::inference_step_table(r).text().c_str());
  std::printf("%s\n", bench::inference_time_table(r).text().c_str());
  std::printf("%s", bench::inference_peer_table(r).text().c_str());
  std::printf("%s", bench::inference_peer_notes(r).c_str());
  if (!a.json.empty()) bench::write_file_atomically(a.json, bench::to_json(r).dump(2) + "\n");
  if (!r.passed()) {
    const std::string step = r.failing_step();
    std::fprintf(stderr, "flopslab: infer: the fused %s differs from the unfused layers beyond %.0e\n",
                 step.empty() ? "model" : ("step '" + step + "'").c_str(), bench::kFusionBound);
    return 1;
  }
  return 0;
}

}  // namespace

CLI::App* add_infer_command(CLI::App& app, CommandRun& run) {
  auto a = std::make_shared<InferArgs>();
  auto* sub = app.add_subcommand(
      "infer", "Run a model in evaluation mode unfused and fused (BN folding, epilogues, stacked 1x1s, no concat "
               "copies), check that they agree and time both at batch 1 and --batch (lesson 18)");
  sub->add_option("--model", a->model, "cnn or inception (any model of `flopslab train`)  [cnn]")->type_name("NAME");
  sub->add_option("--checkpoint", a->checkpoint,
                  "A checkpoint.bin written by `flopslab train` for this model  [freshly initialised]")
      ->type_name("FILE");
  sub->add_option("--batch", a->batch, "The large batch (batch 1 is measured too)  [64]")->type_name("N");
  sub->add_option("--threads", a->threads, "Threads for the kernels  [physical cores]")->type_name("N");
  add_json_option(*sub, a->json, "the results");
  add_quick_flag(*sub, a->quick, "Short timing (a smoke test)");
  sub->add_flag("--no-peers", a->no_peers, "Leave out oneDNN's post-ops and the PyTorch twin");
  add_no_progress_flag(*sub, a->no_progress);
  run = [a](const std::string&) { return run_infer(*a); };
  return sub;
}

}  // namespace flopslab::cli
