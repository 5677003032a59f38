// Lesson 20: CPU against GPU, end to end. The same networks trained on both devices over a
// sweep of batch sizes: samples per second on each, the batch from which the GPU stays
// ahead, and where a GPU step's time goes (the batch's copy, kernel launches, compute),
// against the textbook expectation, the ratio of the two peaks. Without a GPU the CPU half of
// the sweep runs and the lesson says what it could not measure.
#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "harness/machine/gpu_runtime.h"
#include "bench/probes/probe.h"
#include "bench/training/step_timing.h"
#include "lessons/frame.h"
#include "lessons/report_data.h"
#include "lessons/roofline_lines.h"
#include "nn/device.h"

namespace flopslab::lessons {
namespace {

struct SweepPoint {
  std::int64_t batch;
  bench::StepTiming cpu, gpu, graph;  // graph: the GPU step as one CUDA graph (smallest batch only)
  bool has_gpu = false, has_graph = false;
  // From each side's fastest step: a busy machine slows some steps, never speeds one up.
  double speedup() const { return gpu.best_samples_per_s / cpu.best_samples_per_s; }
};

}  // namespace

int run_lesson_20(const LessonOptions& options) {
  LessonRun lesson(20, "CPU vs GPU, end to end");
  const int threads = lesson_threads(options);
  const bench::ProbeSession session({.quick = options.quick, .cores = threads, .progress = lesson.progress_callback()});
  const bench::ProbeReport flops = bench::find_probe("flops")->run(session.context);
  const probes::FmaLoop& widest = probes::widest_fma_loop(probes::Precision::fp32);
  const double cpu_peak =
      point_value(flops.json["points"], {{"loop", widest.name}, {"threads", session.context.cores}}, "gflops_best");
  const bench::GpuStatus& gpu = bench::gpu_status();
  const bool has_gpu = gpu.usable && nn::cuda_unusable() == nullptr;
  double gpu_peak = 0, launch_us = 0;
  if (has_gpu) {
    gpu_peak = bench::find_probe("gpu-flops")->run(session.context).json["theoretical_gflops"].get<double>();
    launch_us = bench::find_probe("gpu-launch")->run(session.context).json["launch_throughput_us"].get<double>();
  } else {
    lesson.say(fmt::format("No usable GPU here ({}): the CPU half of the sweep runs, and the GPU columns stay empty.",
                           gpu.usable ? nn::cuda_unusable() : gpu.reason));
  }

  const std::vector<std::int64_t> batches =
      options.quick ? std::vector<std::int64_t>{8, 128, 1024} : std::vector<std::int64_t>{8, 32, 128, 512, 2048, 4096};
  const bench::TimingOptions timing =
      options.quick ? bench::quick_timing() : bench::TimingOptions{.min_time_s = 0.5, .max_time_s = 3.0};
  lesson.say(fmt::format(
      "Each point: one training step (the batch copied from the host, forward, cross-entropy, backward, Adam) timed "
      "after two warm-up steps, median of repeated steps; {} CPU thread(s).",
      threads));

  std::vector<std::pair<std::string, std::vector<SweepPoint>>> sweeps;
  for (const char* model : {"mlp", "cnn"}) {
    std::vector<SweepPoint> points;
    for (std::int64_t batch : batches) {
      lesson.progress(fmt::format("{} at batch {} on the CPU", model, batch));
      SweepPoint p{.batch = batch};
      p.cpu = bench::time_training_steps({.model = model, .device = nn::DeviceTag::cpu, .batch = batch,
                                          .threads = threads, .profile = true, .timing = timing});
      if (has_gpu) {
        lesson.progress(fmt::format("{} at batch {} on the GPU", model, batch));
        p.gpu = bench::time_training_steps(
            {.model = model, .device = nn::DeviceTag::cuda, .batch = batch, .threads = threads, .timing = timing});
        p.has_gpu = true;
        if (batch == batches.front()) {  // the launch-bound end, once more as a CUDA graph
          lesson.progress(fmt::format("{} at batch {} on the GPU as a CUDA graph", model, batch));
          p.graph = bench::time_training_steps({.model = model, .device = nn::DeviceTag::cuda, .batch = batch,
                                                .threads = threads, .graph = true, .timing = timing});
          p.has_graph = true;
        }
      }
      points.push_back(p);
    }
    sweeps.emplace_back(model, points);
  }

  for (const auto& [model, points] : sweeps) {
    bench::Table t({{"batch"}, {"CPU samples/s"}, {"spread"}, {"GPU samples/s"}, {"spread"}, {"GPU / CPU"},
                    {"GPU copy ms"}, {"launches"}, {"launch ms"}, {"GPU step ms"}});
    for (const SweepPoint& p : points) {
      const bool g = p.has_gpu;
      t.add_row({std::to_string(p.batch), fmt::format("{:.0f}", p.cpu.samples_per_s),
                 fmt::format("±{:.0f}%", 50 * p.cpu.spread), g ? fmt::format("{:.0f}", p.gpu.samples_per_s) : "-",
                 g ? fmt::format("±{:.0f}%", 50 * p.gpu.spread) : "-", g ? fmt::format("{:.2f}x", p.speedup()) : "-",
                 g ? fmt::format("{:.3f}", 1e3 * p.gpu.copy_s) : "-", g ? fmt::format("{:.0f}", p.gpu.launches_per_step) : "-",
                 g ? fmt::format("{:.3f}", 1e-3 * launch_us * p.gpu.launches_per_step) : "-",
                 g ? fmt::format("{:.3f}", 1e3 * p.gpu.step_s) : "-"});
    }
    lesson.say(fmt::format("The {}:", model));
    lesson.show(t);
  }

  // Checks on what the sweep measured. On the CPU: the MLP's step has little work per sample,
  // so its fixed costs (a parallel region per layer, the optimizer's pass) dominate at batch
  // 8; a convolution's work per image already fills the cores there.
  // Growth: the best rate of the sweep over the rate at its smallest batch, each from the
  // fastest step (another process on the machine can only slow steps down).
  auto cpu_growth = [](const std::vector<SweepPoint>& points) {
    double best = 0;
    for (const SweepPoint& p : points) best = std::max(best, p.cpu.best_samples_per_s);
    return best / points.front().cpu.best_samples_per_s;
  };
  const double mlp_growth = cpu_growth(sweeps[0].second), cnn_growth = cpu_growth(sweeps[1].second);
  lesson.check(mlp_growth >= 1.5, fmt::format("on the CPU the MLP's best batch in the sweep trained at least 1.5x the "
                                              "samples per second of batch {} ({:.1f}x: its fixed costs per step spread "
                                              "over more samples)",
                                              batches.front(), mlp_growth));
  lesson.check(cnn_growth < mlp_growth,
               fmt::format("on the CPU the CNN gained less from a larger batch than the MLP ({:.1f}x against {:.1f}x): "
                           "its convolutions already fill the cores at batch {}",
                           cnn_growth, mlp_growth, batches.front()));
  for (const auto& [model, points] : sweeps) {
    const SweepPoint &small = points.front(), &large = points.back();
    lesson.check(std::isfinite(large.cpu.last_loss) && (!large.has_gpu || std::isfinite(large.gpu.last_loss)),
                 fmt::format("every step of the {} sweep ended with a finite loss", model));
    if (!has_gpu) continue;
    // The crossover: the smallest batch from which the GPU stays ahead.
    std::int64_t crossover = -1;
    for (std::size_t i = points.size(); i-- > 0 && points[i].speedup() > 1;) crossover = points[i].batch;
    lesson.say(crossover > 0 ? fmt::format("The {}: the GPU is ahead from batch {} on.", model, crossover)
                             : fmt::format("The {}: the GPU never stays ahead in this sweep.", model));
    lesson.check(large.speedup() >= small.speedup(),
                 fmt::format("the GPU's lead grows with the batch for the {} ({:.2f}x at {}, {:.2f}x at {}): small "
                             "batches leave it waiting on launches and copies",
                             model, small.speedup(), small.batch, large.speedup(), large.batch));
    const double launch_share = 1e-6 * launch_us * small.gpu.launches_per_step / small.gpu.step_s;
    lesson.say(fmt::format("At batch {} the {}'s {} launches take about {:.0f}% of its GPU step ({:.3f} of {:.3f} ms).",
                           small.batch, model, small.gpu.launches_per_step, 100 * launch_share,
                           1e-3 * launch_us * small.gpu.launches_per_step, 1e3 * small.gpu.step_s));
    if (small.has_graph) {
      lesson.say(fmt::format("At batch {} as one CUDA graph the {}'s step issues {:.0f} launches instead of {:.0f} and "
                             "trains {:.0f} samples/s ({:.2f}x the eager GPU step).",
                             small.batch, model, small.graph.launches_per_step, small.gpu.launches_per_step,
                             small.graph.samples_per_s, small.gpu.step_s / small.graph.step_s));
      lesson.check(small.graph.launches_per_step < small.gpu.launches_per_step && std::isfinite(small.graph.last_loss),
                   fmt::format("a CUDA graph replaced the {}'s {:.0f} launches per step at batch {} with {:.0f}", model,
                               small.gpu.launches_per_step, small.batch, small.graph.launches_per_step));
    }
    lesson.compare(fmt::format("{} at batch {}: GPU over CPU", model, large.batch), gpu_peak / cpu_peak,
                   "ratio of the FP32 peaks (lessons 01, 06)", large.speedup(), "x");
    lesson.check(large.speedup() <= 1.2 * gpu_peak / cpu_peak,
                 fmt::format("the {}'s end-to-end speed-up ({:.1f}x) stayed within the ratio of the peaks ({:.1f}x, "
                             "+20% for the CPU's own inefficiency)",
                             model, large.speedup(), gpu_peak / cpu_peak));
  }
  // Every step on the roofline: its FLOPs and compulsory bytes from the layers' counts.
  std::vector<bench::BatchProfile> profiles;
  for (const auto& [model, points] : sweeps)
    for (const SweepPoint& p : points) {
      profiles.push_back({.model = model, .batch = p.batch, .threads = threads, .device = "cpu", .timing = p.cpu});
      if (p.has_gpu) profiles.push_back({.model = model, .batch = p.batch, .threads = threads, .device = "cuda", .timing = p.gpu});
    }
  const int flagged = say_training_roofline_lines(lesson, options.quick, profiles);
  lesson.check(flagged == 0, fmt::format("no training step or layer ran above its roof ({} flagged): the layers' FLOP "
                                         "and byte counts and the roofs agree",
                                         flagged));
  return lesson.finish(
      has_gpu ? "a GPU wins only once a step carries enough work to hide its fixed costs (launches, copies, "
                "synchronisation); below that batch the CPU is as fast or faster."
              : "the CPU half measured: batching helps a small MLP, whose per-step costs dominate, far more than a "
                "CNN, whose convolutions fill the cores already; run this on a machine with an NVIDIA GPU for the race.");
}

}  // namespace flopslab::lessons
