// Lesson 14: CNNs and batch norm. The small CNN against the MLP on the same data and budget,
// the CNN with and without BatchNorm at a high learning rate, and what training and
// evaluation mode change in dropout and batch norm.
#include <cstring>

#include <fmt/format.h>

#include "bench/training/train_run.h"
#include "lessons/frame.h"
#include "lessons/training_setup.h"

namespace flopslab::lessons {

int run_lesson_14(const LessonOptions& options) {
  LessonRun lesson(14, "CNNs and batch norm");
  const int threads = lesson_threads(options);
  const bench::LoadedData data = lesson_data(options, 8000, 1000);
  const int epochs = 2;

  auto run = [&](const char* model_name, const char* optimizer, double lr) {
    std::mt19937_64 rng(3);
    auto model = nn::make_model(model_name, rng);
    return nn::train(*model, optimizer, lr, epochs, data.train, data.test, lesson_trainer(lesson, options, data, model_name))
        .back();
  };

  // 1. Convolutions against fully connected layers.
  const nn::EpochInfo mlp = run("mlp", "adam", 0.003), cnn = run("cnn", "adam", 0.003);
  bench::Table versus({{"model", bench::Table::Align::left}, {"parameters"}, {"test accuracy"}, {"samples/s"}});
  auto parameters = [](const char* name) {
    std::mt19937_64 rng(0);
    std::int64_t n = 0;
    for (nn::Parameter* p : nn::make_model(name, rng)->parameters()) n += p->value.size();
    return n;
  };
  versus.add_row({"MLP 784-256-128-64-10", std::to_string(parameters("mlp")), fmt::format("{:.2f}%", 100 * mlp.test.accuracy),
                  fmt::format("{:.0f}", mlp.samples_per_s)});
  versus.add_row({"CNN 2x(conv 3x3, BN, ReLU, pool), 1568-128-10", std::to_string(parameters("cnn")),
                  fmt::format("{:.2f}%", 100 * cnn.test.accuracy), fmt::format("{:.0f}", cnn.samples_per_s)});
  lesson.say(fmt::format("{} epoch(s) of Adam (lr 0.003, batch 64) on {} images, tested on {}:", epochs,
                         data.train.size(), data.test.size()));
  lesson.show(versus);
  lesson.say("A 3x3 filter reuses 9 weights at every position: the CNN has fewer weights than the MLP, sees local "
             "patterns wherever they appear, and costs more arithmetic per image.");

  // 2. Batch norm raises the learning rate a network survives. One rate decides on one seed
  // and one machine's rounding, so the lesson sweeps several and reports the widest gap.
  auto accuracy_or_chance = [&](const char* model_name, double lr, std::string& outcome) {
    try {
      const double a = run(model_name, "sgd", lr).test.accuracy;
      outcome = fmt::format("{:.1f}%", 100 * a);
      return a;
    } catch (const std::runtime_error&) {  // the loop's non-finite-loss stop
      outcome = "diverged";
      return 0.1;  // chance
    }
  };
  bench::Table rates({{"SGD, momentum 0.9, lr"}, {"CNN with BatchNorm"}, {"without"}, {"gap"}});
  double best_gap = -1, best_lr = 0, best_with = 0, best_without = 0;
  // The step from "both learn" to "both collapse" can fall between two rates (a full run on a
  // Granite Rapids VM: both learned at 0.2, both collapsed at 0.25; at 0.22 only BatchNorm
  // learned, 78.9% against 10.0%), so the grid is finer there.
  for (double lr : {0.1, 0.2, 0.22, 0.25, 0.3, 0.5}) {
    std::string with_text, without_text;
    const double with = accuracy_or_chance("cnn", lr, with_text), without = accuracy_or_chance("cnn-nobn", lr, without_text);
    rates.add_row({fmt::format("{:g}", lr), with_text, without_text, fmt::format("{:+.1f} points", 100 * (with - without))});
    // The widest gap among the rates where BatchNorm still learns (at least 3x chance), else the widest.
    const bool learns = with >= 0.3, best_learns = best_with >= 0.3;
    if ((learns && !best_learns) || (learns == best_learns && with - without > best_gap))
      best_gap = with - without, best_lr = lr, best_with = with, best_without = without;
  }
  lesson.say("\nThe same CNN with and without BatchNorm at learning rates from large to too large:");
  lesson.show(rates);

  // 3. Training and evaluation mode.
  std::mt19937_64 rng(4), dropout_rng(5);
  auto dropout_model = nn::make_model("mlp-dropout", rng);
  nn::DataLoader loader(data.test, 32, false, false, 0, data.normalise);
  const nn::Batch batch = loader.batch(0);
  const nn::Context train_ctx{.training = true, .threads = threads, .rng = &dropout_rng},
      eval_ctx{.training = false, .threads = threads};
  auto same = [](const nn::Tensor& a, const nn::Tensor& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), std::size_t(a.size()) * sizeof(float)) == 0;
  };
  const bool train_differs = !same(dropout_model->forward(batch.x, train_ctx).clone(), dropout_model->forward(batch.x, train_ctx));
  const bool eval_repeats = same(dropout_model->forward(batch.x, eval_ctx).clone(), dropout_model->forward(batch.x, eval_ctx));
  lesson.say(fmt::format("\nDropout (p = 0.2) in training mode drops a fresh random fifth of the units on every "
                         "forward: two passes over the same batch {}. In evaluation mode it is the identity: two "
                         "passes {}. BatchNorm likewise normalises with the batch's own statistics in training and "
                         "with its running averages in evaluation, so `model.eval()` before testing is not optional.",
                         train_differs ? "differ" : "agree", eval_repeats ? "agree bit for bit" : "differ"));
  lesson.say("Weight decay (`flopslab train --weight-decay`) and early stopping on the held-out loss "
             "(`--patience N`) are the other two brakes on overfitting this lesson's README describes.");

  lesson.compare(fmt::format("CNN test accuracy after {} epoch(s) (the figure is for 5)", epochs), 0.91,
                 "issue target for this small CNN", cnn.test.accuracy, "");
  lesson.check(cnn.test.accuracy > mlp.test.accuracy,
               fmt::format("the CNN beat the MLP ({:.1f}% vs {:.1f}%)", 100 * cnn.test.accuracy, 100 * mlp.test.accuracy));
  lesson.check(best_gap > 0.1 && best_with >= 0.3,
               fmt::format("at lr {:g} BatchNorm kept the CNN learning, at 3x chance or more ({:.1f}%, without it {:.1f}%: "
                           "{:+.1f} points beyond the 10-point gap the check asks for)",
                           best_lr, 100 * best_with, 100 * best_without, 100 * best_gap - 10));
  lesson.check(train_differs && eval_repeats, "dropout is random in training mode and the identity in evaluation mode");
  return lesson.finish("structure the model around the data (local filters shared across the image), keep each "
                       "layer's inputs well scaled (batch norm), and switch to evaluation mode before measuring.");
}

}  // namespace flopslab::lessons
