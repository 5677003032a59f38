// Lesson 21: data-parallel training. Two ranks under MPI each train on a shard of every batch
// and average their gradients with an all-reduce; the lesson measures the all-reduce, the
// throughput against one rank with the same cores, what overlap hides, BatchNorm against
// SyncBatchNorm, and the cost model's answer for many ranks. Run without mpirun, it starts
// its own 2-rank runs (`flopslab train --distributed` and `flopslab allreduce`).
#include <unistd.h>

#include <cmath>
#include <filesystem>

#include <fmt/format.h>

#include "bench/scaling/allreduce_bench.h"
#include "harness/files.h"
#include "bench/scaling/mpi_launch.h"
#include "bench/scaling/scale_model.h"
#include "bench/training/step_timing.h"
#include "bench/training/train_run.h"
#include "lessons/frame.h"
#include "nn/distributed.h"
#include "harness/external.h"
#include "harness/format.h"

namespace flopslab::lessons {
namespace {

namespace fs = std::filesystem;

struct Figures {
  double samples_per_s = 0, train_loss = 0, test_accuracy = 0, hook_ms = 0, wait_ms = 0, step_s = 0;
};

// The last epoch of a run's log.csv; step_s from the global batch.
Figures last_epoch(const std::string& dir, std::int64_t global_batch) {
  const auto rows = bench::read_csv(dir + "/log.csv");
  if (rows.empty()) throw std::runtime_error(dir + "/log.csv has no epoch");
  const auto& r = rows.back();
  Figures f{.samples_per_s = std::stod(r.at("samples_per_s")), .train_loss = std::stod(r.at("train_loss")),
            .test_accuracy = std::stod(r.at("test_accuracy")), .hook_ms = std::stod(r.at("allreduce_hook_ms")),
            .wait_ms = std::stod(r.at("allreduce_wait_ms"))};
  f.step_s = double(global_batch) / f.samples_per_s;
  return f;
}

}  // namespace

int run_lesson_21(const LessonOptions& options) {
  LessonRun lesson(21, "Data-parallel training");
  if (nn::launched_by_mpi()) {
    lesson.check(false, "lesson 21 runs as one process and starts its own ranks: run it without mpirun");
    return lesson.finish("");
  }
  const bool quick = options.quick;
  const int ranks = 2, total_threads = 2;
  const std::int64_t per_rank = 32, global = per_rank * ranks;
  const std::string work = fmt::format("{}/flopslab-lesson21-{}", fs::temp_directory_path().string(), ::getpid());
  fs::remove_all(work);
  fs::create_directories(work);
  struct Cleanup {
    std::string dir;
    ~Cleanup() { std::error_code ec; fs::remove_all(dir, ec); }
  } cleanup{work};

  // Runs `flopslab ARGS` on two ranks; throws with the last line of its output when it fails.
  auto on_two_ranks = [&](const std::string& what, const std::vector<std::string>& args) {
    lesson.progress(fmt::format("{} on {} ranks (mpirun)", what, ranks));
    const auto [status, output] = bench::run_self_under_mpirun(ranks, args);
    if (status != 0) throw std::runtime_error(fmt::format("{} on {} ranks failed: {}", what, ranks, bench::last_line(output)));
  };

  // 1. The all-reduce itself.
  std::vector<std::string> reduce_args{"allreduce", "--json", work + "/allreduce.json", "--no-progress"};
  if (quick) reduce_args.push_back("--quick");
  on_two_ranks("timing the all-reduce", reduce_args);
  const bench::AllreduceStudy reduce = bench::allreduce_study_from_json(Json::parse(bench::read_file(work + "/allreduce.json")));
  lesson.say(fmt::format(
      "Each rank is a process with its own copy of the model; `mpirun -n {0}` starts {0} of them and MPI gives each "
      "its rank (0 .. {1}) and the world size {0}. After backward every rank holds gradients of its own samples; an "
      "all-reduce sums them so that every rank takes the same step. Timed here between {0} ranks by {2} (per call, "
      "the slower rank; `flopslab allreduce`):",
      ranks, ranks - 1, reduce.backend));
  lesson.show(bench::allreduce_table(reduce));
  lesson.say(fmt::format(
      "Fitted: the all-reduce costs {:.1f} us + {:.3f} ns per byte; one ring step (send and receive n bytes at once) "
      "{:.1f} us + {:.3f} ns per byte ({:.1f} GB/s). A ring all-reduce of n bytes over N ranks is 2(N-1) steps of n/N "
      "bytes, so each rank sends 2(N-1)/N x n bytes whatever N is: the bandwidth term stays flat while the latency "
      "term 2(N-1) alpha grows with N.",
      1e6 * reduce.allreduce_fit.alpha_s, 1e9 * reduce.allreduce_fit.beta_s_per_byte, 1e6 * reduce.link.alpha_s,
      1e9 * reduce.link.beta_s_per_byte, 1e-9 * reduce.link.bytes_per_s()));

  // 2. Training: 1 rank x 2 threads against 2 ranks x 1 thread, the same samples.
  const std::int64_t train_limit = quick ? 4096 : 0, test_limit = quick ? 1000 : 0;
  const int epochs = quick ? 1 : 3;
  // The same run as one process, or on two ranks through `flopslab train --distributed`.
  struct Run {
    std::string model;
    std::int64_t batch, train_limit;  // batch: per rank
    int epochs;
  };
  auto one_rank = [&](const Run& r, int threads, const std::string& name) {
    lesson.progress(fmt::format("training the {} on one rank, batch {}, {} thread(s)", r.model, r.batch, threads));
    bench::TrainRunOptions o{.model = r.model, .out = work + "/" + name, .epochs = r.epochs,
                             .train_limit = r.train_limit, .test_limit = test_limit, .force = true, .plots = false,
                             .trainer = {.batch = r.batch, .threads = threads, .seed = 1, .workers = 0}};
    bench::run_training(o);
    return last_epoch(o.out, r.batch);
  };
  auto two_ranks = [&](const Run& r, const std::string& name, std::vector<std::string> extra) {
    std::vector<std::string> args{"train", "--distributed", "--model", r.model, "--batch", std::to_string(r.batch),
                                  "--threads", "1", "--workers", "0", "--epochs", std::to_string(r.epochs),
                                  "--train-limit", std::to_string(r.train_limit), "--test-limit", std::to_string(test_limit),
                                  "--seed", "1", "--out", work + "/" + name, "--no-plots", "--no-progress", "--force"};
    args.insert(args.end(), extra.begin(), extra.end());
    on_two_ranks(fmt::format("training the {} ({})", r.model, name), args);
    return last_epoch(work + "/" + name, r.batch * ranks);
  };
  const Run mlp_run{"mlp", per_rank, train_limit, epochs}, mlp_global{"mlp", global, train_limit, epochs};
  const Figures alone = one_rank(mlp_global, total_threads, "mlp-1rank");
  const Figures overlap = two_ranks(mlp_run, "mlp-2ranks", {});
  const Figures no_overlap = two_ranks(mlp_run, "mlp-2ranks-no-overlap", {"--no-overlap"});
  const Figures rank_alone = one_rank(mlp_run, 1, "mlp-1rank-1thread");  // what one rank computes by itself
  bench::Table t({{"MLP, Adam, same samples", bench::Table::Align::left}, {"samples/s"}, {"step"}, {"train loss"},
                  {"test accuracy"}, {"all-reduce in backward"}, {"waiting after it"}});
  auto row = [&](const std::string& name, const Figures& f) {
    t.add_row({name, fmt::format("{:.0f}", f.samples_per_s), fmt::format("{:.3f} ms", 1e3 * f.step_s),
               fmt::format("{:.5f}", f.train_loss), fmt::format("{:.2f}%", 100 * f.test_accuracy),
               fmt::format("{:.3f} ms", f.hook_ms), fmt::format("{:.3f} ms", f.wait_ms)});
  };
  row(fmt::format("1 rank x {} threads, batch {}", total_threads, global), alone);
  row(fmt::format("{} ranks x 1 thread, batch {} each, overlap", ranks, per_rank), overlap);
  row(fmt::format("{} ranks x 1 thread, batch {} each, --no-overlap", ranks, per_rank), no_overlap);
  row(fmt::format("1 rank x 1 thread, batch {} (one rank's share)", per_rank), rank_alone);
  lesson.say(fmt::format(
      "\nThe same {} cores trained the MLP ({} epoch(s), {} training images) as one process with {} threads and as {} "
      "ranks of one thread. Each rank reads one sample in {} of the epoch's shuffled order (PyTorch's "
      "DistributedSampler), so the global batch, {} x {} = {}, holds the same samples as the single rank's batch of {}:",
      total_threads, epochs, train_limit > 0 ? train_limit : 60000, total_threads, ranks, ranks, ranks, per_rank, global, global));
  lesson.show(t);

  // The all-reduce costs the same whatever the batch; the compute grows with it.
  bench::Table sweep({{"per-rank batch"}, {"1 rank x 2 threads"}, {"2 ranks x 1 thread"}, {"ratio"}});
  const std::vector<std::int64_t> sweep_batches{32, 128, 512};
  std::vector<double> sweep_ratio;
  for (std::int64_t b : sweep_batches) {
    const std::int64_t limit = quick ? 8192 : 30000;
    const Figures one = one_rank({"mlp", b * ranks, limit, 1}, total_threads, fmt::format("sweep-1rank-{}", b));
    const Figures two = two_ranks({"mlp", b, limit, 1}, fmt::format("sweep-2ranks-{}", b), {});
    sweep_ratio.push_back(two.samples_per_s / one.samples_per_s);
    sweep.add_row({std::to_string(b), fmt::format("{:.0f}/s", one.samples_per_s), fmt::format("{:.0f}/s", two.samples_per_s),
                   fmt::format("{:.2f}x", sweep_ratio.back())});
  }
  lesson.say("\nThe all-reduce moves the same bytes whatever the batch, while the compute grows with it. Samples per "
             "second over the same global batch, one epoch:");
  lesson.show(sweep);

  // 3. BatchNorm against SyncBatchNorm: per-rank statistics are those of 32 samples, not 64.
  // Ten steps: enough for plain BatchNorm to part from the single rank, too few for rounding
  // (summing 2 x 32 instead of 64) to part SyncBatchNorm from it.
  const Run cnn_run{"cnn", per_rank, 10 * global, 1};
  const Figures cnn_alone = one_rank({"cnn", global, 10 * global, 1}, total_threads, "cnn-1rank");
  const Figures cnn_bn = two_ranks(cnn_run, "cnn-bn", {});
  const Figures cnn_sync = two_ranks(cnn_run, "cnn-syncbn", {"--sync-bn"});
  bench::Table bn({{"CNN with batch norm, 10 steps", bench::Table::Align::left}, {"train loss"}, {"vs 1 rank"}, {"test accuracy"}});
  auto bn_row = [&](const std::string& name, const Figures& f) {
    bn.add_row({name, fmt::format("{:.6f}", f.train_loss), fmt::format("{:+.2e}", f.train_loss - cnn_alone.train_loss),
                fmt::format("{:.2f}%", 100 * f.test_accuracy)});
  };
  bn_row(fmt::format("1 rank, batch {}", global), cnn_alone);
  bn_row(fmt::format("{} ranks x {}, BatchNorm (statistics of {} samples)", ranks, per_rank, per_rank), cnn_bn);
  bn_row(fmt::format("{} ranks x {}, SyncBatchNorm (statistics of all {})", ranks, per_rank, global), cnn_sync);
  lesson.say("\nBatch norm normalises with the statistics of the batch it sees. On a rank that is its shard; "
             "SyncBatchNorm all-reduces each channel's count, sum and sum of squares in the forward (and the two "
             "gradient sums in the backward), so every rank normalises with the statistics of the whole global batch:");
  lesson.show(bn);

  // 4. The cost model, calibrated here, against the measured 2-rank step.
  bench::StepTimingOptions so{.model = "mlp", .batch = per_rank, .threads = 1};
  if (quick) so.timing = bench::quick_timing();
  lesson.progress("timing one rank's backward");
  const bench::StepTiming split = bench::time_training_steps(so);
  const double backward_share = split.step_s > 0 ? split.backward_s / split.step_s : 2.0 / 3;
  auto workload = [&](const std::string& model, double step_s) {
    std::mt19937_64 rng(0);
    bench::ScaleWorkload w{.name = model, .per_rank_batch = per_rank};
    for (nn::Parameter* p : nn::make_model(model, rng)->parameters()) w.parameter_bytes.push_back(p->value.size() * 4);
    w.backward_s = backward_share * step_s, w.forward_s = step_s - w.backward_s;
    return w;
  };
  const bench::ScaleWorkload mlp = workload("mlp", rank_alone.step_s);
  const bench::AllreduceModel here = bench::allreduce_model(reduce);
  const bench::ScalePoint predicted_off = bench::predict_scaling(mlp, here, ranks, false);
  const bench::ScalePoint predicted_on = bench::predict_scaling(mlp, here, ranks, true);
  const double mlp_bytes = double(mlp.parameters()) * 4;
  lesson.say(fmt::format(
      "\nWhat the all-reduce moves: the MLP's {:.0f} k parameters are {} of gradients; each rank sends 2(N-1)/N x that "
      "= {} per step, {:.3f} ms as measured here, against {:.3f} ms of computing its batch of {} alone "
      "(backward {:.0f}% of it, timed separately).",
      1e-3 * double(mlp.parameters()), bench::format_bytes(mlp_bytes), bench::format_bytes(mlp_bytes * (ranks - 1) * 2 / ranks),
      1e3 * predicted_off.allreduce_s, 1e3 * rank_alone.step_s, per_rank, 100 * backward_share));
  lesson.say(fmt::format(
      "The cost model (`flopslab scale`) adds the all-reduce it cannot hide to one rank's compute: for {} ranks it "
      "predicts {:.3f} ms per step without overlap (measured {:.3f} ms) and {:.3f} ms with ideal overlap (measured "
      "{:.3f} ms). What it leaves out shows in the run's own timers: after backward the ranks waited {:.3f} ms for an "
      "all-reduce that takes {:.3f} ms alone. That wait also holds copying the gradients into the bucket and back, and "
      "waiting for the slower rank each step. Overlap cannot help much on CPU ranks either. Open MPI moves a "
      "non-blocking all-reduce's data only inside MPI calls made by the training thread. And on shared memory the "
      "copies and the sum are work for the same cores that compute. NCCL's side stream on a GPU, with its own "
      "engines, is what ideal overlap assumes.",
      ranks, 1e3 * predicted_off.step_s, 1e3 * no_overlap.step_s, 1e3 * predicted_on.step_s, 1e3 * overlap.step_s,
      no_overlap.wait_ms, 1e3 * predicted_off.allreduce_s));

  bench::StepTimingOptions co{.model = "cnn", .batch = per_rank, .threads = 1};
  if (quick) co.timing = bench::quick_timing();
  lesson.progress("timing one rank's CNN step");
  const bench::StepTiming cnn_step = bench::time_training_steps(co);
  bench::ScaleWorkload cnn = workload("cnn", cnn_step.step_s);
  cnn.backward_s = cnn_step.backward_s, cnn.forward_s = cnn_step.step_s - cnn_step.backward_s;
  std::vector<bench::ScaleScenario> scenarios{{mlp, here, "here"}, {cnn, here, "here"}};
  scenarios.push_back({bench::goyal2017_resnet50(), bench::goyal2017_link(), "50 GbE (Goyal)"});
  lesson.say("\nThe same model for many ranks, each keeping its batch of 32 (the ResNet-50 row: Goyal et al. 2017's "
             "P100 step on their 50 Gbit/s Ethernet):");
  lesson.show(bench::scale_table(scenarios, {2, 8, 64, 256, 1024}));
  for (const bench::ScaleScenario& c : scenarios) {
    const int n = bench::ranks_where_communication_dominates(c.workload, c.link);
    lesson.say(fmt::format("  {} on {}: {}", c.workload.name, c.link_name,
                           n > 0 ? fmt::format("the all-reduce outlasts the compute from {} ranks on (no overlap)", n)
                                 : std::string("the all-reduce stays below the compute at any rank count")));
  }
  lesson.say(fmt::format(
      "\nThe global batch grows with the ranks ({} per rank x N). Lesson 15's linear scaling rule (Goyal et al. 2017) "
      "keeps the update per sample the same by multiplying the learning rate by N, with a warm-up over the first "
      "epochs; here both runs saw the same global batch, so they share one learning rate.",
      per_rank));

  const double resnet256 = bench::predict_scaling(bench::goyal2017_resnet50(), bench::goyal2017_link(), 256, true).efficiency;
  lesson.compare(fmt::format("throughput, {} ranks x 1 thread / 1 rank x {} threads (MLP, batch {} per rank)", ranks,
                             total_threads, per_rank),
                 1.0, "ideal: the same cores, the same work", overlap.samples_per_s / alone.samples_per_s, "x");
  lesson.compare(fmt::format("the same at batch {} per rank", sweep_batches.back()), 1.0,
                 "ideal: the same cores, the same work", sweep_ratio.back(), "x");
  const double all_of_it = no_overlap.wait_ms;
  lesson.compare("share of the --no-overlap all-reduce that overlap hides", 1.0, "ideal: all of it",
                 all_of_it > 0 ? 1 - (overlap.hook_ms + overlap.wait_ms) / all_of_it : 0, "");
  lesson.compare("cost model's 2-rank step / measured (no overlap)", 1.0, "the model is right",
                 predicted_off.step_s / no_overlap.step_s, "x");
  lesson.compare("ResNet-50 on 256 P100s, scaling efficiency (model with overlap)", 0.90, "Goyal et al. 2017",
                 resnet256, "");

  lesson.check(reduce.allreduce.back().timing.median > reduce.allreduce.front().timing.median,
               fmt::format("the all-reduce of {} took longer than that of {} ({:.1f} us vs {:.1f} us): bytes cost time",
                           bench::format_bytes(double(reduce.allreduce.back().bytes)),
                           bench::format_bytes(double(reduce.allreduce.front().bytes)),
                           1e6 * reduce.allreduce.back().timing.median, 1e6 * reduce.allreduce.front().timing.median));
  const double loss_gap = std::fabs(overlap.train_loss - alone.train_loss) / alone.train_loss;
  lesson.check(loss_gap < 0.01, fmt::format("{} ranks of batch {} trained the MLP as one rank of batch {} did: training "
                                            "loss {:.5f} vs {:.5f} ({:.2f}% apart, under 1%)",
                                            ranks, per_rank, global, overlap.train_loss, alone.train_loss, 100 * loss_gap));
  lesson.check(overlap.train_loss == no_overlap.train_loss,
               fmt::format("overlap on and off trained the same numbers (loss {:.6f} both): overlap changes when the "
                           "all-reduce runs, not what it sums",
                           overlap.train_loss));
  const double sync_gap = std::fabs(cnn_sync.train_loss - cnn_alone.train_loss),
               bn_gap = std::fabs(cnn_bn.train_loss - cnn_alone.train_loss);
  lesson.check(sync_gap < 0.01 * cnn_alone.train_loss && bn_gap > 3 * sync_gap,
               fmt::format("SyncBatchNorm on {} ranks trained as one rank's BatchNorm over the whole batch (loss {:+.2e} "
                           "off), plain BatchNorm on shards of {} did not ({:+.2e} off, {:.0f}x further)",
                           ranks, cnn_sync.train_loss - cnn_alone.train_loss, per_rank,
                           cnn_bn.train_loss - cnn_alone.train_loss, sync_gap > 0 ? bn_gap / sync_gap : INFINITY));
  return lesson.finish(
      "data parallelism multiplies the batch, not the model: every step pays an all-reduce of all the gradients, so it "
      "pays off when a rank's compute per step is large against 2 x parameters x 4 bytes over the link, and it keeps "
      "paying off at many ranks only if the all-reduce hides behind backward.");
}

}  // namespace flopslab::lessons
