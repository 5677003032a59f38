// Lesson 15: optimizers and schedules. The same MLP and budget under SGD, momentum, Nesterov,
// Adam and RMSprop; every schedule family of recipes/; 1cycle against a constant rate; the LR
// finder's suggestion put to work.
#include <cmath>
#include <filesystem>

#include <fmt/format.h>

#include "bench/training/train_run.h"
#include "harness/build_info.h"
#include "lessons/frame.h"
#include "lessons/training_setup.h"
#include "nn/lr_find.h"

namespace flopslab::lessons {

int run_lesson_15(const LessonOptions& options) {
  LessonRun lesson(15, "Optimizers and schedules");
  const int threads = lesson_threads(options);
  const bool quick = options.quick;
  const bench::LoadedData data = lesson_data(options, 6400, 2000);
  const int epochs = 5;
  // The history of one run; a run whose loss diverges ends there, counted at chance (10%).
  auto run = [&](const nn::Recipe& recipe, const std::string& what, std::int64_t batch = 64) {
    std::mt19937_64 rng(15);
    auto model = nn::make_model("mlp", rng);
    nn::TrainOptions o = lesson_trainer(lesson, options, data, what);
    o.batch = batch;
    nn::Trainer trainer(*model, recipe, data.train, o);
    try {
      return trainer.run(data.test);
    } catch (const std::runtime_error&) {  // the loop's non-finite-loss stop
      nn::EpochInfo diverged;
      diverged.test.accuracy = 0.1;
      return std::vector<nn::EpochInfo>(std::size_t(recipe.epochs() + 0.5), diverged);
    }
  };
  auto one_phase = [](const std::string& optimizer, double lr, double momentum, int epochs_) {
    nn::ScheduleJson phase = {{"epochs", epochs_}, {"optimizer", optimizer}, {"lr", lr}};
    if (momentum >= 0) phase["momentum"] = momentum;
    return nn::parse_recipe({{"description", optimizer}, {"phases", {phase}}}, "lesson 15");
  };
  auto accuracy = [](const std::vector<nn::EpochInfo>& h) { return h.back().test.accuracy; };
  lesson.say(fmt::format("The MLP of lesson 12 on {} images, {} epochs each, batch 64, tested on {}.", data.train.size(),
                         epochs, data.test.size()));

  // 1. Optimizers at a constant rate each (the rates are each one's usual default scale).
  struct Opt {
    const char* label;
    std::string name;
    double lr, momentum;
  };
  const Opt optimizers[] = {{"SGD", "sgd", 0.1, 0},           {"SGD + momentum 0.9", "sgd", 0.01, 0.9},
                            {"Nesterov 0.9", "nesterov", 0.01, 0.9}, {"Adam", "adam", 0.001, -1},
                            {"RMSprop", "rmsprop", 0.0005, -1}};
  bench::Table opt_table({{"optimizer", bench::Table::Align::left}, {"lr"}, {"epoch 1"}, {"epoch 5"}});
  double best_adaptive = 0, plain_sgd = 0;
  for (const Opt& o : optimizers) {
    const auto h = run(one_phase(o.name, o.lr, o.momentum, epochs), o.label);
    opt_table.add_row({o.label, fmt::format("{:g}", o.lr), fmt::format("{:.2f}%", 100 * h.front().test.accuracy),
                       fmt::format("{:.2f}%", 100 * accuracy(h))});
    if (o.name == "sgd" && o.momentum == 0) plain_sgd = h.front().test.accuracy;
    if (o.name == "adam" || o.name == "rmsprop") best_adaptive = std::max(best_adaptive, h.front().test.accuracy);
  }
  lesson.say("\n1. Optimizers, each at a constant rate of its usual scale:");
  lesson.show(opt_table);

  // 2. Schedule families: every recipe of recipes/ with SGD (the two *-best recipes are lesson 15's answers).
  const std::string dir = std::string(build_info().source_dir) + "/recipes/";
  const char* families[] = {"step-decay", "linear-decay", "cosine-decay", "sgdr", "onecycle", "warmup-cosine",
                            "poly", "plateau", "onecycle-torch", "mlp-best"};
  bench::Table sched({{"recipe", bench::Table::Align::left}, {"epoch 1"}, {"epoch 3"}, {"epoch 5"}, {"what it does", bench::Table::Align::left}});
  double onecycle = 0, best = 0;
  std::vector<nn::EpochInfo> onecycle_history;
  std::string best_name;
  for (const char* name : families) {
    const nn::Recipe r = nn::read_recipe(dir + name + ".json");
    const auto h = run(r, name, r.batch > 0 ? r.batch : 64);
    const std::string what = r.description.substr(0, r.description.find(':'));  // the title before the details
    sched.add_row({name, fmt::format("{:.2f}%", 100 * h[0].test.accuracy), fmt::format("{:.2f}%", 100 * h[2].test.accuracy),
                   fmt::format("{:.2f}%", 100 * accuracy(h)), what});
    if (std::string(name) == "onecycle") onecycle = accuracy(h), onecycle_history = h;
    if (accuracy(h) > best) best = accuracy(h), best_name = name;
  }
  lesson.say("\n2. Schedules (recipes/*.json; `flopslab train --recipe recipes/NAME.json` runs one and draws its curve):");
  lesson.show(sched);

  // 3. 1cycle against the same optimizer at a constant rate.
  const auto constant = run(one_phase("sgd", 0.05, 0.9, epochs), "constant SGD");
  const double constant_final = accuracy(constant);
  int onecycle_epochs = epochs + 1;
  for (const nn::EpochInfo& e : onecycle_history)
    if (e.test.accuracy >= constant_final) {
      onecycle_epochs = e.epoch + 1;
      break;
    }
  lesson.say(fmt::format("\n3. SGD (momentum 0.9) at a constant 0.05 reaches {:.2f}% after {} epochs; 1cycle (recipes/"
                         "onecycle.json, peak 0.1) reaches {:.2f}%, and passes {:.2f}% after {} epoch(s).",
                         100 * constant_final, epochs, 100 * onecycle, 100 * constant_final,
                         onecycle_epochs > epochs ? std::string("never") : std::to_string(onecycle_epochs)));

  // 4. The LR finder, then training at its suggestion and far from it.
  std::mt19937_64 rng(15);
  auto probe = nn::make_model("mlp", rng);
  lesson.progress("LR range test");
  const nn::LrFindResult found =
      nn::find_lr(*probe, data.train, {.steps = quick ? 100 : 200, .batch = 64, .threads = threads, .normalise = data.normalise});
  const double suggestion = found.valley_lr;
  bench::Table finder({{"lr", bench::Table::Align::left}, {"test accuracy after 1 epoch"}});
  std::vector<double> at;
  for (double factor : {0.01, 1.0, 30.0}) {
    const auto h = run(one_phase("sgd", suggestion * factor, 0.9, 1), fmt::format("lr {:.2g}", suggestion * factor));
    at.push_back(accuracy(h));
    finder.add_row({fmt::format("{:.3g}{}", suggestion * factor,
                                factor == 1 ? " (the suggestion)" : factor < 1 ? " (100x lower)" : " (30x higher)"),
                    fmt::format("{:.2f}%", 100 * accuracy(h))});
  }
  lesson.say(fmt::format("\n4. The LR range test (SGD, momentum 0.9): {} steps from 1e-7, the loss {} at lr {:.3g}. fast.ai's "
                         "valley (the longest stretch where the smoothed loss keeps falling, taken half-way in) suggests "
                         "{:.3g}; the steepest fall is at {:.3g}, close to the edge, and the lowest loss (at {:.3g}) "
                         "divided by 10 gives fast.ai's older rule, {:.3g}. `flopslab lr-find` draws the curve.",
                         found.lrs.size(), found.diverged ? "diverged" : "had not diverged", found.lrs.back(), suggestion,
                         found.steepest_lr, found.min_loss_lr, found.min_loss_over_10()));
  lesson.show(finder);

  lesson.compare("1cycle's speed-up to the constant rate's final accuracy", 8.0,
                 "Smith & Topin 2017: ResNet-56 on CIFAR-10 in 10k vs 80k iterations",
                 double(epochs) / double(std::min(onecycle_epochs, epochs + 1)), "x");
  lesson.check(best_adaptive > plain_sgd + 0.01,
               fmt::format("after one epoch an adaptive optimizer (Adam or RMSprop) was more than a point ahead of plain "
                           "SGD ({:.2f}% vs {:.2f}%)", 100 * best_adaptive, 100 * plain_sgd));
  lesson.check(onecycle > constant_final,
               fmt::format("1cycle beat the constant rate on the same budget ({:.2f}% vs {:.2f}%)", 100 * onecycle,
                           100 * constant_final));
  lesson.check(found.diverged && suggestion > found.lrs.front() && suggestion < found.lrs.back(),
               fmt::format("the LR finder found the divergence and suggested a rate inside the range ({:.3g})", suggestion));
  lesson.check(at[1] > at[0] && at[1] > at[2],
               fmt::format("its suggestion trained better than 100x lower and 30x higher ({:.1f}% vs {:.1f}% and {:.1f}%)",
                           100 * at[1], 100 * at[0], 100 * at[2]));
  return lesson.finish("the schedule matters as much as the optimizer: warm up or start low, spend the middle at a "
                       "high rate, and end low; the LR finder tells you where 'high' is for this model.");
}

}  // namespace flopslab::lessons
