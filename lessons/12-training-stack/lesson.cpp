// Lesson 12: a training stack from scratch. Seed 002's MLP built from the layers in nn/, each
// with a hand-written backward that central finite differences confirm, trained on
// Fashion-MNIST with Adam, and the throughput of the whole loop.
#include <fmt/format.h>

#include "bench/training/train_run.h"
#include "lessons/frame.h"
#include "lessons/training_setup.h"
#include "nn/gradcheck.h"

namespace flopslab::lessons {

int run_lesson_12(const LessonOptions& options) {
  LessonRun lesson(12, "A training stack from scratch");
  const int threads = lesson_threads(options);

  // 1. The model and its size.
  std::mt19937_64 rng(0);
  std::unique_ptr<nn::Sequential> model = nn::make_model("mlp", rng);
  std::int64_t parameters = 0;
  for (nn::Parameter* p : model->parameters()) parameters += p->value.size();
  lesson.say("Seed 002's classifier, built from nn/'s layers: " + model->describe());
  lesson.say(fmt::format("{} parameters (784x256 + 256 + 256x128 + 128 + 128x64 + 64 + 64x10 + 10).", parameters));

  // 2. Backward by hand, checked against finite differences on a small copy of the same stack.
  nn::Sequential small;
  small.add(std::make_unique<nn::Linear>(6, 5, rng)).add(std::make_unique<nn::Activation>(nn::ActivationKind::relu));
  small.add(std::make_unique<nn::Linear>(5, 3, rng));
  nn::Tensor x({4, 6});
  std::uniform_real_distribution<float> uniform(-1, 1);
  for (std::int64_t i = 0; i < x.size(); ++i) x[i] = uniform(rng);
  double worst = 0;
  bench::Table grads({{"tensor", bench::Table::Align::left}, {"elements"}, {"worst |numeric - backward| / max |grad|"}});
  for (const nn::GradientReport& r : nn::gradient_check(small, x, {.threads = 1}, 1e-2)) {
    worst = std::max(worst, r.worst);
    grads.add_row({r.tensor, std::to_string(r.elements), fmt::format("{:.2e}", r.worst)});
  }
  lesson.say("\nEvery gradient of Linear(6->5), ReLU, Linear(5->3) against central finite differences "
             "(L = sum(y * r), step 0.01, float32):");
  lesson.show(grads);

  // 3. Training, as in the seed: Adam, lr 0.003, batch 64, 5 epochs (quick: a subset, 1 epoch).
  const bench::LoadedData data = lesson_data(options, 5000, 1000);
  nn::TrainOptions t{.batch = 64, .threads = threads, .transforms = data.normalise};
  t.on_step = [&](const nn::StepInfo& s) {
    if (s.step % 100 == 0)
      lesson.progress(fmt::format("epoch {} step {}/{}: loss {:.3f}", s.epoch + 1, s.step + 1, s.steps, s.loss));
  };
  lesson.say(fmt::format("\nTraining on {} images, testing on {}, {} thread(s):", data.train.size(), data.test.size(),
                         threads));
  const std::vector<nn::EpochInfo> history = nn::train(*model, "adam", 0.003, options.quick ? 1 : 5, data.train, data.test, t);
  lesson.show(bench::epoch_table(history));
  const double accuracy = history.back().test.accuracy;
  lesson.compare(options.quick ? "MLP test accuracy (quick: 1 epoch, 5000 images; the figure is for 5 full epochs)"
                                : "MLP test accuracy after 5 epochs",
                 0.88, "seed 002 (PyTorch, same recipe)", accuracy, "");

  lesson.check(worst < 2e-2, fmt::format("every hand-written gradient matched finite differences within 2% ({:.1e})", worst));
  lesson.check(history.back().train_loss < history.front().train_loss || history.size() == 1,
               "the training loss fell from epoch to epoch");
  const double floor = options.quick ? 0.75 : 0.85;
  lesson.check(accuracy >= floor, fmt::format("test accuracy reached {:.0f}% ({:.1f}%)", 100 * floor, 100 * accuracy));
  return lesson.finish(fmt::format(
      "a few hundred lines over the GEMM kernels train the seed's classifier to {:.1f}% at {:.0f} samples/s: "
      "forward caches, backward by hand, an optimizer step, repeated.",
      100 * accuracy, history.back().samples_per_s));
}

}  // namespace flopslab::lessons
