// `flopslab lr-find`: the learning-rate range test (Smith 2015, fast.ai's lr_find).
#include "cli/command.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <memory>
#include <string>

#include <fmt/format.h>

#include "harness/files.h"
#include "harness/machine/machine.h"
#include "harness/progress.h"
#include "bench/training/train_run.h"
#include "cli/args.h"
#include "nn/checkpoint.h"
#include "nn/lr_find.h"
#include "harness/external.h"

namespace flopslab::cli {
namespace {

namespace fs = std::filesystem;

struct LrFindArgs {
  std::string model = "cnn", optimizer = "sgd", data = nn::kFashionMnistDir, out, threads, batch = "64", seed = "0",
              start = "1e-7", end = "10", steps = "200", train_limit = "0", init_from;
  bool force = false, no_plots = false, no_progress = false;
};

int run_lr_find(const LrFindArgs& a) {
  const auto& models = nn::model_names();
  if (std::find(models.begin(), models.end(), a.model) == models.end())
    throw UsageError("lr-find: --model: '" + a.model + "' is not a model (valid: " + nn::model_names_text() + ")");
  const auto& optimizers = nn::optimizer_names();
  if (std::find(optimizers.begin(), optimizers.end(), a.optimizer) == optimizers.end())
    throw UsageError("lr-find: --optimizer: '" + a.optimizer + "' is not an optimizer (valid: sgd, nesterov, adam, adamw, rmsprop)");
  nn::LrFindOptions o{.optimizer = a.optimizer};
  o.start_lr = parse_number("--start-lr", a.start, 1e-12, 1e6);
  o.end_lr = parse_number("--end-lr", a.end, 1e-12, 1e6);
  if (o.end_lr <= o.start_lr) throw UsageError(fmt::format("lr-find: --end-lr {} must be more than --start-lr {}", a.end, a.start));
  o.steps = int(parse_integer("--steps", a.steps, 10, 100000));
  o.batch = parse_integer("--batch", a.batch, 1, 1 << 20);
  o.threads = threads_or_cores("--threads", a.threads);
  o.seed = std::uint64_t(parse_integer("--seed", a.seed, 0, std::numeric_limits<long long>::max()));
  const std::int64_t limit = parse_integer("--train-limit", a.train_limit, 0, 1LL << 40);
  // Its inputs first (the checkpoint, the data), then where it writes.
  if (const std::string problem = bench::checkpoint_file_problem(a.init_from); !problem.empty())
    throw UsageError("lr-find: --init-from: " + problem);
  if (const std::string problem = nn::mnist_format_problem(a.data); !problem.empty())
    throw UsageError("lr-find: --data: " + problem);
  const std::string out = a.out.empty() ? fmt::format("runs/lr-find-{}-{}", a.model, a.optimizer) : a.out;
  if (fs::exists(out) && !a.force)
    throw UsageError("lr-find: " + out + " already exists; pass --force to replace it or choose another --out");
  check_output_dir("lr-find: --out", out);

  bench::Progress progress(!a.no_progress);
  progress("loading " + a.data);
  bench::LoadedData data;
  try {
    data = bench::load_training_data(a.data, limit, 1);
  } catch (const std::runtime_error& e) {
    throw UsageError(std::string("lr-find: --data: ") + e.what());
  }
  o.normalise = data.normalise;
  std::mt19937_64 rng(o.seed);
  auto model = nn::make_model(a.model, rng);
  if (!a.init_from.empty()) {
    std::ifstream in(a.init_from, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    try {
      for (const std::string& note : nn::load_matching_parameters(bytes, a.init_from, *model))
        std::printf("--init-from: %s\n", note.c_str());
    } catch (const std::runtime_error& e) {
      throw UsageError(std::string("lr-find: --init-from: ") + e.what());
    }
  }
  progress(fmt::format("lr-find: {} steps from lr {} to {}", o.steps, a.start, a.end));
  nn::LrFindResult r;
  try {
    r = nn::find_lr(*model, data.train, o);
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
  progress.finish();
  std::string csv = "lr,loss,smoothed_loss\n";
  for (std::size_t i = 0; i < r.lrs.size(); ++i) csv += fmt::format("{:.6g},{:.6f},{:.6f}\n", r.lrs[i], r.losses[i], r.smoothed[i]);
  bench::create_output_dir(out);
  bench::write_file_atomically(out + "/lr_find.csv", csv);
  bench::write_file_atomically(out + "/lr_find.json",
                               fmt::format("{{\"valley_lr\": {:.6g}, \"steepest_lr\": {:.6g}, \"min_loss_lr\": {:.6g}, "
                                           "\"diverged\": {}, \"steps\": {}}}\n",
                                           r.valley_lr, r.steepest_lr, r.min_loss_lr, r.diverged ? "true" : "false",
                                           r.lrs.size()));
  const std::string plot_note = a.no_plots ? "" : bench::run_plot_script(out);
  std::printf("LR range test of %s with %s, batch %lld: %zu steps from lr %g%s.\n", a.model.c_str(), a.optimizer.c_str(),
              static_cast<long long>(o.batch), r.lrs.size(), o.start_lr,
              r.diverged ? fmt::format(" until the loss diverged at lr {:.3g}", r.lrs.back()).c_str()
                         : fmt::format(" to {:.3g} without diverging", r.lrs.back()).c_str());
  std::printf("Suggested learning rate: %.3g (fast.ai's valley); also %.3g (the steepest fall of the smoothed loss) and "
              "%.3g (the lowest loss, %.3g at lr %.3g, divided by 10)\n",
              r.valley_lr, r.steepest_lr, r.min_loss_over_10(), *std::min_element(r.smoothed.begin(), r.smoothed.end()),
              r.min_loss_lr);
  if (!plot_note.empty()) std::printf("%s\n", plot_note.c_str());
  std::printf("Wrote %s/: lr_find.csv, lr_find.json%s\n", out.c_str(),
              plot_note.empty() && !a.no_plots ? ", lr_find.png" : "");
  return 0;
}

}  // namespace

CLI::App* add_lr_find_command(CLI::App& app, CommandRun& run) {
  auto a = std::make_shared<LrFindArgs>();
  auto* sub = app.add_subcommand(
      "lr-find", "The learning-rate range test (Smith 2015, fast.ai): train briefly with an exponentially growing rate "
                 "until the loss diverges, suggest a rate, plot loss against rate. The model's weights are left as they were");
  sub->add_option("--model", a->model, "mlp, mlp-dropout, cnn, cnn-nobn or inception  [cnn]")->type_name("NAME");
  sub->add_option("--optimizer", a->optimizer, "sgd, nesterov, adam, adamw or rmsprop  [sgd]")->type_name("NAME");
  sub->add_option("--start-lr", a->start, "First learning rate  [1e-7]")->type_name("X");
  sub->add_option("--end-lr", a->end, "Last learning rate, if the loss has not diverged before  [10]")->type_name("X");
  sub->add_option("--steps", a->steps, "Steps from --start-lr to --end-lr  [200]")->type_name("N");
  sub->add_option("--batch", a->batch, "Samples per step  [64]")->type_name("N");
  sub->add_option("--init-from", a->init_from, "Test a trained model: load its checkpoint first")->type_name("FILE");
  sub->add_option("--threads", a->threads, "Threads for the kernels  [physical cores]")->type_name("N");
  sub->add_option("--seed", a->seed, "Seed of initialisation and shuffling  [0]")->type_name("N");
  sub->add_option("--data", a->data, "Directory of MNIST-format files  [/usr/share/datasets/fashion-mnist]")->type_name("DIR");
  sub->add_option("--train-limit", a->train_limit, "Use only the first N training images (0: all)  [0]")->type_name("N");
  sub->add_option("--out", a->out, "Directory for lr_find.csv and lr_find.png  [runs/lr-find-<model>-<optimizer>]")
      ->type_name("DIR");
  add_force_flag(*sub, a->force, "Replace --out if it exists");
  add_no_plots_flag(*sub, a->no_plots, "Do not draw lr_find.png");
  add_no_progress_flag(*sub, a->no_progress);
  run = [a](const std::string&) { return run_lr_find(*a); };
  return sub;
}

}  // namespace flopslab::cli
