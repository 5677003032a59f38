// `flopslab scale [--ranks LIST] [--models LIST] [--link-gbps G] [--out DIR]`: data-parallel step time
// and scaling efficiency on many ranks, predicted from one rank's step and the measured all-reduce.
#include "cli/command.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <random>
#include <sstream>

#include <fmt/format.h>

#include "bench/scaling/allreduce_bench.h"
#include "harness/files.h"
#include "bench/scaling/mpi_launch.h"
#include "harness/progress.h"
#include "report/report.h"
#include "bench/scaling/scale_model.h"
#include "bench/training/step_timing.h"
#include "cli/args.h"
#include "nn/distributed.h"
#include "nn/train.h"
#include "harness/external.h"
#include "harness/format.h"
#include "harness/fit.h"

namespace flopslab::cli {
namespace {

namespace fs = std::filesystem;

struct ScaleArgs {
  std::string ranks = "8,64,1024", models = "mlp,cnn,resnet50", batch = "32", threads = "1", link_gbps, latency_us,
              allreduce_json, out = "runs/scale";
  bool quick = false, force = false, no_plots = false, no_progress = false;
};

// A model of nn/ measured here: one rank's step at the per-rank batch, its backward alone.
bench::ScaleWorkload measured_workload(const std::string& model, std::int64_t batch, int threads, bool quick) {
  bench::StepTimingOptions o{.model = model, .batch = batch, .threads = threads};
  if (quick) o.timing = bench::quick_timing();
  const bench::StepTiming t = bench::time_training_steps(o);
  std::mt19937_64 rng(0);
  bench::ScaleWorkload w{.name = model, .per_rank_batch = batch};
  for (nn::Parameter* p : nn::make_model(model, rng)->parameters())
    w.parameter_bytes.push_back(p->value.size() * std::int64_t(sizeof(float)));
  w.backward_s = t.backward_s;
  w.forward_s = t.step_s - t.backward_s;  // forward, loss and the update
  w.source = fmt::format("measured here: one rank, {} thread(s), step {:.3f} ms, backward {:.3f} ms", threads,
                         1e3 * t.step_s, 1e3 * t.backward_s);
  return w;
}

bench::AllreduceStudy measure_link_here(bool quick) {
  const std::string json = fmt::format("{}/flopslab-allreduce-{}.json", fs::temp_directory_path().string(), ::getpid());
  std::vector<std::string> args{"allreduce", "--json", json, "--no-progress"};
  if (quick) args.push_back("--quick");
  auto [status, output] = bench::run_self_under_mpirun(2, args);
  if (status != 0) {
    fs::remove(json);
    throw std::runtime_error("the 2-rank all-reduce measurement failed: " + bench::last_line(output));
  }
  const bench::AllreduceStudy s = bench::allreduce_study_from_json(Json::parse(bench::read_file(json)));
  fs::remove(json);
  return s;
}

int run_scale(const ScaleArgs& a) {
  std::vector<int> ranks;
  {
    std::istringstream in(a.ranks);
    for (std::string item; std::getline(in, item, ',');) ranks.push_back(int(parse_integer("--ranks", item, 1, 1 << 20)));
    if (ranks.empty()) throw UsageError("scale: --ranks: give at least one rank count, e.g. 8,64,1024");
  }
  std::vector<std::string> models;
  {
    std::istringstream in(a.models);
    for (std::string item; std::getline(in, item, ',');) {
      if (item != "mlp" && item != "cnn" && item != "resnet50")
        throw UsageError(fmt::format("scale: --models: unknown model '{}' (valid: mlp, cnn, resnet50)", item));
      models.push_back(item);
    }
    if (models.empty()) throw UsageError("scale: --models: give at least one of mlp, cnn, resnet50");
  }
  const std::int64_t batch = parse_integer("--batch", a.batch, 1, 1 << 16);
  const int threads = int(parse_integer("--threads", a.threads, 1, kMaxThreads));
  if (!a.latency_us.empty() && a.link_gbps.empty()) throw UsageError("scale: --latency-us: only with --link-gbps");
  if (!a.link_gbps.empty() && !a.allreduce_json.empty())
    throw UsageError("scale: --link-gbps and --allreduce-json both describe the link; give one");
  if (nn::launched_by_mpi()) throw UsageError("scale: runs as one process (it starts its own 2-rank measurement); run it without mpirun");
  // The link, given or stored, before the output: the inputs first.
  const double gbps = a.link_gbps.empty() ? 0 : parse_number("--link-gbps", a.link_gbps, 1e-3, 1e6);
  const double latency = a.latency_us.empty() ? 5.0 : parse_number("--latency-us", a.latency_us, 0, 1e6);
  std::optional<bench::AllreduceStudy> stored;
  if (!a.allreduce_json.empty()) {
    try {
      stored = bench::allreduce_study_from_json(Json::parse(bench::read_file(a.allreduce_json)));
    } catch (const std::exception& e) {
      throw UsageError(fmt::format("scale: --allreduce-json: {}: {}", a.allreduce_json, e.what()));
    }
  }
  if (fs::exists(a.out) && !a.force)
    throw UsageError("scale: " + a.out + " already exists; pass --force to replace it or choose another --out");
  check_output_dir("scale: --out", a.out);

  bench::Progress progress(!a.no_progress);
  bench::AllreduceModel link;
  std::string link_name, link_note;
  if (!a.link_gbps.empty()) {
    link.link = {.alpha_s = latency * 1e-6, .beta_s_per_byte = 8 / (gbps * 1e9)};
    link_name = fmt::format("{:g} Gbit/s", gbps);
    link_note = fmt::format("a link of {:g} Gbit/s and {:g} us per message (--link-gbps, --latency-us)", gbps, latency);
  } else {
    bench::AllreduceStudy s;
    if (stored) {
      s = *stored;
    } else {
      progress("measuring the all-reduce between 2 ranks here (flopslab allreduce)");
      try {
        s = measure_link_here(a.quick);
      } catch (const std::runtime_error& e) {
        throw UsageError(std::string("scale: ") + e.what() + " (or give the link: --link-gbps G --latency-us U)");
      }
    }
    link = bench::allreduce_model(s);
    link_name = "here";
    link_note = fmt::format("the all-reduce measured between {} ranks here by {} (its times, and beyond them the fit "
                            "as a ring step: {})",
                            s.world, s.backend, bench::describe_fit(link.link));
  }
  std::vector<bench::ScaleScenario> scenarios;
  for (const std::string& m : models) {
    if (m == "resnet50") {  // Goyal et al.'s P100 step: on their link, and on one given here
      if (!a.link_gbps.empty()) scenarios.push_back({bench::goyal2017_resnet50(), link, link_name});
      scenarios.push_back({bench::goyal2017_resnet50(), bench::goyal2017_link(), "50 GbE (Goyal)"});
      continue;
    }
    progress(fmt::format("timing one rank's training step of the {} at batch {}", m, batch));
    scenarios.push_back({measured_workload(m, batch, threads, a.quick), link, link_name});
  }
  progress.finish();

  std::printf("Data-parallel step time predicted from one rank's compute and the link (each rank keeps its batch of "
              "%lld; DDP's buckets, ring all-reduce; with overlap a bucket starts once backward has produced it).\n"
              "Link \"%s\": %s.\n",
              static_cast<long long>(batch), link_name.c_str(), link_note.c_str());
  if (std::find(models.begin(), models.end(), "resnet50") != models.end())
    std::printf("Link \"50 GbE (Goyal)\": 50 Gbit/s and 5 us per message, the Ethernet port of each 8-GPU server in "
                "Goyal et al. 2017 (the latency is assumed).\n");
  for (std::size_t i = 0; i < scenarios.size(); ++i) {
    const bench::ScaleScenario& c = scenarios[i];
    if (i > 0 && scenarios[i - 1].workload.name == c.workload.name) continue;
    std::printf("  %s (%.2f M parameters): %s.\n", c.workload.name.c_str(), 1e-6 * double(c.workload.parameters()),
                c.workload.source.c_str());
  }
  std::printf("\n%s\n", bench::scale_table(scenarios, ranks).text().c_str());
  for (const bench::ScaleScenario& c : scenarios) {
    const int n = bench::ranks_where_communication_dominates(c.workload, c.link);
    std::printf("%s on %s: %s\n", c.workload.name.c_str(), c.link_name.c_str(),
                n > 0 ? fmt::format("the all-reduce outlasts the compute from {} ranks on", n).c_str()
                      : "the all-reduce stays below the compute up to 2^20 ranks");
  }
  if (std::find(models.begin(), models.end(), "resnet50") != models.end()) {
    const bench::ScaleWorkload r = bench::goyal2017_resnet50();
    const bench::AllreduceModel g = bench::goyal2017_link();
    std::printf("\nPublished anchors, against this model on the 50 GbE link:\n"
                "  Goyal et al. 2017, ResNet-50 on 256 P100s: about 90%% scaling efficiency; the model gives %.1f%% "
                "with overlap, %.1f%% without.\n"
                "  Sergeev and Del Balso 2018 (Horovod's ring all-reduce), 128 GPUs: 88-90%%; the model gives %.1f%% "
                "with overlap, %.1f%% without.\n",
                100 * bench::predict_scaling(r, g, 256, true).efficiency, 100 * bench::predict_scaling(r, g, 256, false).efficiency,
                100 * bench::predict_scaling(r, g, 128, true).efficiency, 100 * bench::predict_scaling(r, g, 128, false).efficiency);
  }
  std::printf("\nLesson 21 checks the prediction for 2 ranks against a measured 2-rank run (flopslab lesson 21).\n");

  std::vector<int> curve;
  for (int n = 1; n <= 1024; n *= 2) curve.push_back(n);
  for (int n : ranks)
    if (std::find(curve.begin(), curve.end(), n) == curve.end()) curve.push_back(n);
  std::sort(curve.begin(), curve.end());
  bench::create_output_dir(a.out);
  const Json json{{"kind", "scale"}, {"link", link_note}, {"scenarios", bench::scale_json(scenarios, curve)}};
  bench::write_file_atomically(a.out + "/scale.json", json.dump(2) + "\n");
  std::printf("Wrote %s/scale.json", a.out.c_str());
  const std::string note = a.no_plots ? "charts not drawn: --no-plots" : bench::run_plot_script(a.out);
  if (note.empty())
    std::printf(" and %s/scaling.png.\n", a.out.c_str());
  else
    std::printf("; %s.\n", note.c_str());
  return 0;
}

}  // namespace

CLI::App* add_scale_command(CLI::App& app, CommandRun& run) {
  auto a = std::make_shared<ScaleArgs>();
  auto* sub = app.add_subcommand(
      "scale", "Predict data-parallel step time and scaling efficiency on many ranks from one rank's measured step "
               "and the measured all-reduce, with and without overlap, and draw the efficiency curve");
  sub->add_option("--ranks", a->ranks, "Rank counts for the table  [8,64,1024]")->type_name("LIST");
  sub->add_option("--models", a->models,
                  "mlp and cnn (timed here) and resnet50 (25.6 M parameters, Goyal et al.'s P100 step)  "
                  "[mlp,cnn,resnet50]")
      ->type_name("LIST");
  sub->add_option("--batch", a->batch, "Per-rank batch of mlp and cnn  [32]")->type_name("N");
  sub->add_option("--threads", a->threads, "Threads of one rank's step  [1]")->type_name("N");
  sub->add_option("--link-gbps", a->link_gbps, "Use a link of this bandwidth instead of measuring one here")
      ->type_name("G");
  sub->add_option("--latency-us", a->latency_us, "With --link-gbps: microseconds per message  [5]")->type_name("U");
  sub->add_option("--allreduce-json", a->allreduce_json, "Use this measurement (flopslab allreduce --json) for the link")
      ->type_name("FILE");
  sub->add_option("--out", a->out, "Directory for scale.json and scaling.png  [runs/scale]")->type_name("DIR");
  add_force_flag(*sub, a->force, "Replace --out if it exists");
  add_quick_flag(*sub, a->quick, "Short timing (a smoke test)");
  add_no_plots_flag(*sub, a->no_plots, "Do not draw scaling.png");
  add_no_progress_flag(*sub, a->no_progress);
  run = [a](const std::string&) { return run_scale(*a); };
  return sub;
}

}  // namespace flopslab::cli
