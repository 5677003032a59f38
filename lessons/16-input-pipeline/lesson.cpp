// Lesson 16: the input pipeline. Loader workers from 0 to twice the cores against training
// throughput, with and without augmentation, the step split into waiting for data and
// computing (the training loop's own timers), and where augmentation becomes the bottleneck.
#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "harness/cpu_share.h"
#include "harness/machine/machine.h"
#include "bench/training/train_run.h"
#include "lessons/frame.h"

namespace flopslab::lessons {

int run_lesson_16(const LessonOptions& options) {
  LessonRun lesson(16, "The input pipeline");
  const bench::MachineInfo machine = bench::describe_machine();
  // Half the cores compute, so that workers have cores of their own to run on.
  const int cores = machine.physical_cores, threads = options.threads > 0 ? options.threads : std::max(1, cores / 2);
  const int spare = cores - threads;
  const bool quick = options.quick;
  const bench::LoadedData data = bench::load_training_data(nn::kFashionMnistDir, quick ? 12800 : 30000, 1000);
  struct Run {
    double samples_per_s = 0, data_share = 0, loss = 0;
  };
  // One epoch; what the loop's timers saw. The loss tells whether the numbers changed.
  auto run = [&](const char* model_name, nn::Transforms augment, int workers) {
    std::mt19937_64 rng(16);
    auto model = nn::make_model(model_name, rng);
    augment.mean = data.normalise.mean, augment.stddev = data.normalise.stddev;
    nn::TrainOptions o{.batch = 64, .threads = threads, .seed = 1, .transforms = augment, .workers = workers};
    o.on_step = lesson.training_progress(fmt::format("{}, {} worker(s)", model_name, workers));
    nn::Trainer trainer(*model, nn::constant_recipe("adam", 0.003, 1, 0), data.train, o);
    const nn::EpochInfo e = trainer.run(nn::Dataset{}).back();
    return Run{e.samples_per_s, e.data_seconds / e.seconds, e.train_loss};
  };
  const nn::Transforms none{}, everything{.flip = true, .crop_padding = 2, .jitter_low = 0.5f, .jitter_high = 1.5f,
                                          .mixup_alpha = 0.2f};

  // 1. What each augmentation costs when the training thread prepares its own batches.
  struct Aug {
    const char* name;
    nn::Transforms t;
  };
  const Aug augs[] = {{"none", none},
                      {"flip", {.flip = true}},
                      {"crop (pad 2)", {.crop_padding = 2}},
                      {"jitter 0.5-1.5", {.jitter_low = 0.5f, .jitter_high = 1.5f}},
                      {"mixup 0.2", {.mixup_alpha = 0.2f}},
                      {"all four", everything}};
  bench::Table cost({{"augmentation (0 workers, MLP)", bench::Table::Align::left}, {"samples/s"}, {"waiting for data"}});
  double bare = 0;
  for (const Aug& a : augs) {
    const Run r = run("mlp", a.t, 0);
    if (std::string(a.name) == "none") bare = r.samples_per_s;
    cost.add_row({a.name, fmt::format("{:.0f}", r.samples_per_s), fmt::format("{:.0f}%", 100 * r.data_share)});
  }
  lesson.say(fmt::format("One epoch of {} images, batch 64, Adam, {} compute thread(s) on {} core(s). With no worker "
                         "the training thread makes each batch itself (copy, augment, normalise) before it computes:",
                         data.train.size(), threads, cores));
  lesson.show(cost);

  // 2. Workers: batches prepared ahead on other threads.
  std::vector<int> worker_counts{0};
  for (int w = 1; w <= 2 * cores; w *= 2) worker_counts.push_back(w);
  bench::Table pipe({{"workers"}, {"MLP, no aug"}, {"MLP, all four"}, {"waiting"}, {"CNN, all four"}, {"waiting"}});
  std::vector<Run> mlp_aug, mlp_plain, cnn_aug;
  bench::CpuShare one_worker_share;  // whether the one-worker run had its spare core (not so beside other jobs)
  for (int w : worker_counts) {
    mlp_plain.push_back(run("mlp", none, w));
    const bench::CpuShareMeter meter;
    mlp_aug.push_back(run("mlp", everything, w));
    if (w == 1) one_worker_share = meter.stop();
    cnn_aug.push_back(run("cnn", everything, w));
    pipe.add_row({std::to_string(w), fmt::format("{:.0f}/s", mlp_plain.back().samples_per_s),
                  fmt::format("{:.0f}/s", mlp_aug.back().samples_per_s), fmt::format("{:.0f}%", 100 * mlp_aug.back().data_share),
                  fmt::format("{:.0f}/s", cnn_aug.back().samples_per_s), fmt::format("{:.0f}%", 100 * cnn_aug.back().data_share)});
  }
  lesson.say("\nTraining samples per second with workers preparing batches ahead (each batch's randomness comes from "
             "(seed, epoch, batch), so every worker count trains on the same batches):");
  lesson.show(pipe);
  std::size_t hidden = worker_counts.size();
  for (std::size_t i = 0; i < worker_counts.size(); ++i)
    if (mlp_aug[i].data_share < 0.05) {
      hidden = i;
      break;
    }
  const double best_aug = std::max_element(mlp_aug.begin(), mlp_aug.end(), [](const Run& a, const Run& b) {
                            return a.samples_per_s < b.samples_per_s;
                          })->samples_per_s;
  lesson.say(fmt::format(
      "\nThe MLP computes a batch in well under a millisecond, so its augmentation is the bottleneck until {}; the CNN "
      "computes ~20x longer per image and hides the same pipeline behind its arithmetic. Workers are threads too: the {} "
      "compute thread(s) leave {} of the {} core(s) to them, and workers beyond that compete with the computation.",
      hidden < worker_counts.size() ? fmt::format("{} worker(s) take it off the training thread", worker_counts[hidden])
                                    : std::string("no worker count here hides it"),
      threads, spare, cores));

  bool same_numbers = true;
  for (std::size_t i = 1; i < worker_counts.size(); ++i)
    same_numbers = same_numbers && mlp_aug[i].loss == mlp_aug[0].loss && cnn_aug[i].loss == cnn_aug[0].loss;
  lesson.compare("MLP samples/s with all four augmentations, best worker count vs no augmentation", 1.0,
                 "ideal: augmentation fully hidden", best_aug / bare, "x");
  lesson.check(same_numbers, "every worker count trained on the same batches (identical losses, bit for bit)");
  // The share depends on how fast the MLP computes (23% on a Zen 4 with AVX-512, 10% on the
  // same core without AVX, whose slower GEMMs dilute the same pipeline); twice the share
  // without augmentation holds on both.
  lesson.check(mlp_aug[0].data_share > 0.05 && mlp_aug[0].data_share > 2 * mlp_plain[0].data_share,
               fmt::format("with no worker, augmenting made the MLP wait for data a twentieth of its time or more, and "
                           "at least twice as long as without augmentation ({:.0f}% vs {:.0f}%)",
                           100 * mlp_aug[0].data_share, 100 * mlp_plain[0].data_share));
  const std::string halved = fmt::format(
      "with a core to spare, one worker at least halved the time the training thread waits for data ({:.0f}% -> {:.0f}%)",
      100 * mlp_aug[0].data_share, 100 * mlp_aug[1].data_share);
  // The worker needs that core free: other programs or the hypervisor taking it leave the
  // worker's batches as late as the training thread's own.
  const int wanted = std::min(threads + 1, cores);
  if (spare > 0 && one_worker_share.known && one_worker_share.free_cpus() < 0.9 * wanted)
    lesson.untested(halved, fmt::format("the run with one worker needed {} CPUs and had only {}", wanted,
                                        one_worker_share.describe()));
  else if (spare > 0)
    lesson.check(mlp_aug[1].data_share < mlp_aug[0].data_share / 2, halved);
  else
    lesson.say("(No core is left over for a worker here, so the lesson does not check that a worker hides the wait.)");
  lesson.check(cnn_aug[0].data_share < mlp_aug[0].data_share,
               fmt::format("the CNN, computing more per image, waits a smaller share on the same pipeline ({:.0f}% vs {:.0f}%)",
                           100 * cnn_aug[0].data_share, 100 * mlp_aug[0].data_share));
  return lesson.finish("measure the wait before buying a faster GPU: when the model computes little per sample, the "
                       "data pipeline sets the pace, and workers (up to the spare cores) take it off the critical path.");
}

}  // namespace flopslab::lessons
