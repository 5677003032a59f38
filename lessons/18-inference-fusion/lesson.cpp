// Lesson 18: inference fusion. A CNN trained here, then compiled for evaluation: batch norm
// folded into the convolutions, bias + BN + ReLU in the GEMM's epilogue, and for an
// Inception-style model the stacked 1x1 branches and the concatenation without a copy; the
// folded outputs against the unfolded ones, the predictions on the test set, and the time.
#include <fmt/format.h>

#include "bench/training/inference_bench.h"
#include "bench/training/train_run.h"
#include "lessons/frame.h"
#include "lessons/training_setup.h"
#include "nn/fuse.h"

namespace flopslab::lessons {

int run_lesson_18(const LessonOptions& options) {
  LessonRun lesson(18, "Inference fusion");
  const int threads = lesson_threads(options);
  const bool quick = options.quick;
  const bench::LoadedData data = lesson_data(options, 6400, 2000);

  // 1. A trained CNN: its batch norms hold real statistics to fold.
  std::mt19937_64 rng(18);
  auto cnn = nn::make_model("cnn", rng);
  {
    nn::Trainer t(*cnn, nn::constant_recipe("sgd", 0.05, 1, 0), data.train,
                  lesson_trainer(lesson, options, data, "training the CNN"));
    t.run(data.test);
  }
  lesson.say(fmt::format(
      "The CNN trained for one epoch on {} images. Folding each batch norm into the convolution before it:\n"
      "  g = gamma / sqrt(running_var + eps),  W' = W * g,  b' = (b - running_mean) * g + beta\n"
      "(per output channel), then bias, ReLU and the store happen in the GEMM's epilogue, one pass over the output.",
      data.train.size()));
  const bench::InferenceResult c =
      bench::run_inference_bench({.model = "cnn", .batch = 64, .threads = threads, .quick = quick,
                                  .progress = lesson.progress_callback(), .trained = cnn.get()});
  for (std::size_t i = 0; i < c.plan.size(); ++i) lesson.say(fmt::format("  step {}: {}", i, c.plan[i]));
  lesson.show(bench::inference_error_table(c));
  lesson.say("The time each fusion saves, step by step at batch 64 (and oneDNN's convolution with post-ops):");
  lesson.show(bench::inference_step_table(c));
  lesson.show(bench::inference_time_table(c));
  lesson.show(bench::inference_peer_table(c));
  lesson.say(bench::inference_peer_notes(c));

  nn::InferencePlan plan(*cnn);
  nn::FusedModel fused(plan);
  const nn::Metrics unfused_eval = nn::evaluate(*cnn, data.test, 256, threads, data.normalise);
  const nn::Metrics fused_eval = nn::evaluate(fused, data.test, 256, threads, data.normalise);
  // The same class predicted for each test image, image by image.
  std::int64_t same = 0, total = 0;
  nn::DataLoader test(data.test, 256, false, false, 0, data.normalise);
  for (std::int64_t b = 0; b < test.batches(); ++b) {
    const nn::Batch batch = test.batch(b);
    const auto want = nn::argmax_rows(cnn->forward(batch.x, nn::Context{.training = false, .threads = threads}));
    const auto got = nn::argmax_rows(plan.forward(batch.x, threads));
    for (std::size_t i = 0; i < want.size(); ++i) same += got[i] == want[i];
    total += std::int64_t(want.size());
  }
  cnn->release_cache();
  lesson.say(fmt::format("Test accuracy: unfused {:.2f}%, fused {:.2f}% on {} images.", 100 * unfused_eval.accuracy,
                         100 * fused_eval.accuracy, total));

  // 2. The Inception-style model: horizontal fusion and concatenation without a copy.
  const bench::InferenceResult inc = bench::run_inference_bench(
      {.model = "inception", .batch = 64, .threads = threads, .quick = quick, .progress = lesson.progress_callback()});
  lesson.say("The inception model (" + inc.source + "):");
  for (std::size_t i = 0; i < inc.plan.size(); ++i) lesson.say(fmt::format("  step {}: {}", i, inc.plan[i]));
  lesson.show(bench::inference_error_table(inc));
  lesson.show(bench::inference_step_table(inc));
  lesson.show(bench::inference_time_table(inc));
  lesson.show(bench::inference_peer_table(inc));

  lesson.compare("folded CNN's outputs vs unfolded, relative", 1, "float32's unit roundoff 2^-24 (exact in real arithmetic)",
                 c.relative / 0x1p-24, "x 2^-24");
  lesson.compare("fused over unfused CNN, batch 64", double(c.counts.passes_removed + c.counts.fused_epilogues) /
                                                          double(c.counts.fused_epilogues),
                 "passes over each output, unfused / fused (an upper bound: the GEMMs stay)", c.rows.back().speedup(), "x");
  lesson.check(c.relative <= bench::kFusionBound,
               fmt::format("the folded CNN's outputs are within {:.0e} of the unfolded ones (max |diff| / max |y| {:.1e}, "
                           "every step: {})",
                           bench::kFusionBound, c.relative, c.failing_step().empty() ? "yes" : c.failing_step()));
  lesson.check(c.counts.folded_batch_norms == 2 && c.counts.passes_removed == 9,
               fmt::format("both batch norms were folded and {} passes over outputs removed", c.counts.passes_removed));
  lesson.check(double(same) >= 0.999 * double(total),
               fmt::format("the fused CNN predicts the unfused one's class for {} of {} test images", same, total));
  lesson.check(inc.counts.stacked_convolutions == 3 && inc.counts.concat_copies_left == 0,
               fmt::format("the inception block ran its {} opening 1x1 convolutions as one GEMM and its {} branches "
                           "wrote into their slices (no concatenation copy)",
                           inc.counts.stacked_convolutions, inc.counts.concat_copies_removed));
  lesson.check(inc.passed(), fmt::format("the fused inception model is within {:.0e} of the unfused one ({:.1e})",
                                         bench::kFusionBound, inc.relative));
  return lesson.finish(
      "Folding and fusion change no mathematics: the outputs move by float32 rounding only. What they save is "
      "passes over memory (each unfused bias, BN, ReLU and concatenation reads and writes a whole activation), "
      "which is why a small network with cheap GEMMs gains the most.");
}

}  // namespace flopslab::lessons
