// One `flopslab train` run: inputs checked, the Trainer run, steps.csv, log.csv and plots written.
#include "bench/training/train_run.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include <fmt/format.h>

#include "harness/files.h"
#include "nn/checkpoint.h"
#include "nn/device.h"
#include "nn/graph.h"
#include "nn/parts.h"
#include "harness/external.h"

namespace flopslab::bench {
namespace fs = std::filesystem;
namespace {

const char* const kClassNames[] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                   "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

// The header and the rows whose first field (the epoch, counted from 1) is at most `epochs`.
std::string rows_up_to(const std::string& csv, int epochs) {
  std::istringstream in(csv);
  std::string line, out;
  bool header = true;
  while (std::getline(in, line)) {
    if (header || std::stoi(line.substr(0, line.find(','))) <= epochs) out += line + "\n";
    header = false;
  }
  return out;
}

}  // namespace

std::string checkpoint_file_problem(const std::string& path) {
  if (path.empty()) return {};
  if (!fs::is_regular_file(path)) return path + " is not a file (a checkpoint.bin of an earlier run)";
  try {
    (void)nn::read_checkpoint_info(read_file(path), path);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return {};
}

static const char* class_name(std::int64_t label) { return label >= 0 && label < 10 ? kClassNames[label] : "?"; }

std::string train_run_problem(const TrainRunOptions& o) {
  const auto& models = nn::model_names();
  if (std::find(models.begin(), models.end(), o.model) == models.end())
    return "--model: '" + o.model + "' is not a model (valid: " + nn::model_names_text() + ")";
  if (o.trainer.device != nn::DeviceTag::cuda && (o.trainer.graph || o.trainer.data_on_device))
    return std::string(o.trainer.graph ? "--graph" : "--data-on-gpu") + " needs --device cuda";
  if (o.trainer.comm != nullptr && o.trainer.comm->world() > 1) {
    if (o.trainer.device == nn::DeviceTag::cuda && o.sync_bn) return "--sync-bn: SyncBatchNorm runs on CPU ranks only so far";
    if (o.trainer.graph) return "--distributed: --graph cannot capture the all-reduces started during backward";
    if (o.trainer.accumulate > 1) return "--distributed: --accumulate is not data-parallel yet";
    if (o.trainer.loss_scaling) return "--distributed: --loss-scale is not data-parallel yet";
  }
  if (o.sync_bn && o.trainer.comm == nullptr) return "--sync-bn needs --distributed";
  if (o.trainer.graph && o.trainer.profile) return "--graph and --profile exclude each other (a replayed graph has no per-layer times)";
  if (o.trainer.graph && o.trainer.loss_scaling) return "--graph and --loss-scale exclude each other (the scale would be baked into the graph)";
  if (o.trainer.device == nn::DeviceTag::cuda) {
    if (const char* why = nn::cuda_unusable()) return std::string("--device cuda: ") + why;
    std::mt19937_64 rng(0);
    const auto model = nn::make_model(o.model, rng);
    if (const std::string missing = nn::layers_without_gpu_half(*model); !missing.empty())
      return "--device cuda: the " + o.model + " cannot run on the GPU yet (no GPU half for " + missing +
             "); train it with --device cpu";
    // Refused before anything is allocated on the GPU: what the step needs against what is free.
    const std::int64_t batch = o.trainer.batch > 0 ? o.trainer.batch : 64;
    const std::int64_t needs = nn::estimate_training_bytes(*model, batch, {1, 28, 28}), free = nn::gpu_free_bytes();
    if (free > 0 && needs > free)
      return fmt::format("--device cuda: the {} at batch {} needs about {:.0f} MiB on the GPU (parameters, gradients, "
                         "optimizer state and activations), more than the {:.0f} MiB free; use a smaller --batch",
                         o.model, batch, double(needs) / (1 << 20), double(free) / (1 << 20));
    const auto not_yet = [](const std::string& what) {
      return "--device cuda: " + what + " is not on the GPU yet; train with --device cpu";
    };
    if (o.trainer.precision == nn::Precision::fp16) return not_yet("--precision fp16 (--precision bf16 is)");
    if (o.trainer.accumulate > 1) return not_yet("--accumulate");
    if (o.trainer.transforms.mixup_alpha > 0) return not_yet("--mixup");
    if (o.trainer.graph)
      if (const std::string why = nn::GraphedStep::cannot_capture(*model); !why.empty()) return "--graph: " + why;
  }
  const auto& optimizers = nn::optimizer_names();
  if (std::find(optimizers.begin(), optimizers.end(), o.optimizer) == optimizers.end())
    return "--optimizer: '" + o.optimizer + "' is not an optimizer (valid: sgd, nesterov, adam, adamw, rmsprop)";
  if (o.epochs < 1) return "--epochs: must be at least 1, got " + std::to_string(o.epochs);
  if (o.trainer.batch < 0) return "--batch: must be at least 1, got " + std::to_string(o.trainer.batch);
  if (!(o.lr > 0) || !std::isfinite(o.lr)) return "--lr: must be a positive number, got " + fmt::format("{}", o.lr);
  if (o.weight_decay < 0) return "--weight-decay: must be 0 or more";
  if (o.trainer.workers < 0) return "--workers: must be 0 or more";
  if (o.trainer.accumulate < 1) return "--accumulate: must be at least 1, got " + std::to_string(o.trainer.accumulate);
  if (o.trainer.checkpoint_segments < 0) return "--checkpoint-segments: must be 0 or more";
  if (o.trainer.transforms.jitter_low <= 0 || o.trainer.transforms.jitter_high < o.trainer.transforms.jitter_low)
    return "--jitter: needs 0 < low <= high";
  for (std::int64_t c : o.classes)
    if (c < 0 || c > 9) return "--classes: " + std::to_string(c) + " is not a Fashion-MNIST class (0 to 9)";
  // The run's own inputs, in the order a user meets them: the recipe, the data, the checkpoint.
  if (!o.recipe.empty()) {
    if (fs::is_directory(o.recipe)) return "--recipe: " + o.recipe + " is a directory, not a recipe (a JSON file)";
    try {
      (void)nn::read_recipe(o.recipe);
    } catch (const std::invalid_argument& e) {
      return e.what();
    }
  }
  if (const std::string problem = nn::mnist_format_problem(o.data); !problem.empty()) return "--data: " + problem;
  if (const std::string problem = checkpoint_file_problem(o.init_from); !problem.empty()) return "--init-from: " + problem;
  // Then where it writes.
  if (o.out.empty()) return "--out: a directory to write is required";
  if (o.resume) {
    if (!fs::exists(o.out + "/checkpoint.bin"))
      return "--resume: " + o.out + "/checkpoint.bin does not exist (run without --resume first)";
    return {};
  }
  if (fs::exists(o.out) && !o.force)
    return o.out + " already exists; pass --resume to continue it, --force to replace it, or choose another --out";
  if (fs::exists(o.out) && !fs::is_directory(o.out)) return "--out: " + o.out + " is a file, not a directory";
  if (const std::string problem = output_location_problem(o.out); !problem.empty()) return "--out: " + problem;
  return {};
}

LoadedData load_training_data(const std::string& dir, std::int64_t train_limit, std::int64_t test_limit) {
  LoadedData d{nn::load_mnist_format(dir, "train"), nn::load_mnist_format(dir, "t10k"), {}};
  if (train_limit > 0) d.train = nn::take(d.train, train_limit);
  if (test_limit > 0) d.test = nn::take(d.test, test_limit);
  // Zero mean and unit variance with the training set's statistics (pixel/255: mean 0.2860,
  // standard deviation 0.3530 for all of Fashion-MNIST), as torchvision's Normalize would.
  double sum = 0, squares = 0;
  const nn::Tensor& x = d.train.images;
  for (std::int64_t i = 0; i < x.size(); ++i) sum += x[i];
  const double mean = sum / double(x.size());
  for (std::int64_t i = 0; i < x.size(); ++i) squares += (x[i] - mean) * (x[i] - mean);
  d.normalise.mean = float(mean);
  d.normalise.stddev = float(std::sqrt(squares / double(x.size())));
  return d;
}

nn::Dataset select_classes(const nn::Dataset& data, const std::vector<std::int64_t>& classes) {
  std::vector<std::int64_t> keep;
  for (std::int64_t i = 0; i < data.size(); ++i)
    if (std::find(classes.begin(), classes.end(), data.labels[std::size_t(i)]) != classes.end()) keep.push_back(i);
  nn::Dataset out;
  out.classes = std::int64_t(classes.size());
  std::vector<std::int64_t> shape = data.images.shape();
  const std::int64_t per = data.images.size() / std::max<std::int64_t>(data.size(), 1);
  shape[0] = std::int64_t(keep.size());
  out.images = nn::Tensor(shape);
  for (std::size_t j = 0; j < keep.size(); ++j) {
    std::copy_n(data.images.data() + keep[j] * per, per, out.images.data() + std::int64_t(j) * per);
    const std::int64_t label = data.labels[std::size_t(keep[j])];
    out.labels.push_back(std::find(classes.begin(), classes.end(), label) - classes.begin());
  }
  return out;
}

TrainRunResult run_training(const TrainRunOptions& options) {
  if (const std::string problem = train_run_problem(options); !problem.empty()) throw std::invalid_argument(problem);
  const nn::Recipe recipe = options.recipe.empty()
                                ? nn::constant_recipe(options.optimizer, options.lr, options.epochs, options.weight_decay)
                                : nn::read_recipe(options.recipe);
  TrainRunOptions o = options;
  if (o.trainer.batch == 0) o.trainer.batch = recipe.batch > 0 ? recipe.batch : 64;
  if (o.progress) o.progress("loading " + o.data);
  LoadedData loaded;
  try {
    loaded = load_training_data(o.data, o.train_limit, o.test_limit);
  } catch (const std::runtime_error& e) {  // a file of the dataset cannot be read: the user's input
    throw std::invalid_argument(std::string("--data: ") + e.what());
  }
  if (!o.classes.empty()) {
    loaded.train = select_classes(loaded.train, o.classes);
    loaded.test = select_classes(loaded.test, o.classes);
  }
  nn::Dataset& train_data = loaded.train;
  const nn::Dataset& test_data = loaded.test;
  nn::Transforms transforms = o.trainer.transforms;
  transforms.mean = loaded.normalise.mean, transforms.stddev = loaded.normalise.stddev;
  if (o.trainer.batch > train_data.size())
    throw std::invalid_argument(fmt::format("--batch: {} is more than the {} training samples", o.trainer.batch, train_data.size()));

  std::mt19937_64 rng(o.trainer.seed);
  auto model = nn::make_model(o.model, rng, train_data.classes);
  const bool writer = o.trainer.comm == nullptr || o.trainer.comm->rank() == 0;  // only rank 0 writes and reports
  if (!writer) o.progress = nullptr;
  if (o.trainer.comm != nullptr && o.trainer.comm->world() > 1) {
    // Every rank must train the same model on the same data: a disagreement stops them all
    // here, each with one line.
    std::vector<double> mine;
    double shapes = 0;
    for (nn::Parameter* p : model->parameters())
      for (std::size_t d = 0; d < p->value.shape().size(); ++d) shapes = shapes * 31 + double(p->value.shape()[d] % 1009) + 1;
    std::int64_t count = 0;
    for (nn::Parameter* p : model->parameters()) count += p->value.size();
    mine = {double(count), double(model->parameters().size()), std::fmod(shapes, 1e15), double(train_data.size()),
            double(test_data.size()), double(train_data.classes), double(o.trainer.batch), double(o.epochs), double(o.trainer.seed)};
    const std::string differs = nn::disagreement_with_rank0(
        *o.trainer.comm, mine, {"the parameter count", "the number of parameter tensors", "the shape signature",
                        "the training set's size", "the test set's size", "the class count", "the per-rank batch",
                        "the epoch count", "the seed"});
    double flag = differs.empty() ? 0 : 1;
    o.trainer.comm->allreduce_max(&flag, 1);
    if (flag > 0)
      throw RanksDisagree(differs.empty() ? fmt::format("--distributed: rank {} stops: another rank disagrees with rank 0 "
                                                        "on the model or the data (its line says how)", o.trainer.comm->rank())
                                          : fmt::format("--distributed: rank {} disagrees with rank 0: {}", o.trainer.comm->rank(), differs));
    if (o.sync_bn)
      for (const nn::ModulePtr& layer : model->layers)
        if (auto* bn = dynamic_cast<nn::BatchNorm*>(layer.get())) bn->sync = o.trainer.comm;
  }
  // GPU ranks: NCCL picks each rank's GPU, before the trainer moves the model there.
  std::unique_ptr<nn::DeviceCollectives> nccl;
  if (o.trainer.comm != nullptr && o.trainer.comm->world() > 1 && o.trainer.device == nn::DeviceTag::cuda) {
    try {
      nccl = nn::nccl_collectives(*o.trainer.comm);
    } catch (const std::runtime_error& e) {
      throw RanksDisagree(std::string("--distributed --device cuda: ") + e.what());  // every rank stops here together
    }
  }
  TrainRunResult result;
  if (!o.init_from.empty()) {
    std::vector<std::string> skip;
    for (const std::string& part : o.new_parts) {
      const nn::LayerRange r = nn::resolve_part(*model, part);
      for (std::size_t i = r.begin; i < r.end; ++i) skip.push_back(std::to_string(i) + ".");
    }
    try {
      result.init_notes = nn::load_matching_parameters(read_file(o.init_from), o.init_from, *model, skip);
    } catch (const std::runtime_error& e) {
      throw std::invalid_argument(std::string("--init-from: ") + e.what());
    }
  }
  nn::TrainOptions t = o.trainer;
  t.transforms = transforms;  // the augmentation and the data's normalisation
  t.device_comm = nccl.get();
  nn::Trainer trainer(*model, recipe, train_data, t);  // checks the plan: phases, schedules, parts
  // The recipe's title: its description up to the first colon.
  const std::string title = recipe.description.substr(0, recipe.description.find(':'));
  result.recipe = (title.empty() ? std::string("recipe") : title) + " (" + recipe.source + ")";
  result.epochs = trainer.epochs();
  result.batch = o.trainer.batch;
  result.steps_per_epoch = trainer.steps_per_epoch();
  std::string log_csv =
      "epoch,train_loss,train_accuracy,test_loss,test_accuracy,test_top3,seconds,samples_per_s,data_seconds,"
      "peak_activation_mib,skipped_steps,allreduce_hook_ms,allreduce_wait_ms\n";
  std::string steps_csv = "epoch,step,loss,accuracy,lr,momentum,loss_scale\n";
  if (o.resume) {
    const std::string path = o.out + "/checkpoint.bin";
    trainer.restore(read_file(path), path, o.model);
    result.first_epoch = trainer.completed_epochs();
    log_csv = rows_up_to(read_file(o.out + "/log.csv"), result.first_epoch);
    steps_csv = rows_up_to(read_file(o.out + "/steps.csv"), result.first_epoch);
  } else if (writer) {
    create_output_dir(o.out);
  }

  double best_loss = std::numeric_limits<double>::infinity();
  int since_best = 0;
  const int epochs = result.epochs;
  auto on_step = [&](const nn::StepInfo& s) {
    // 9 significant digits: every float read back exactly, so a schedule can be compared with
    // PyTorch's to the last bit of its float32 parameters.
    steps_csv += fmt::format("{},{},{:.9g},{:.9g},{:.9g},{:.9g},{:.9g}\n", s.epoch + 1, s.step + 1, s.step_loss,
                             s.accuracy, s.lr, s.momentum, s.loss_scale);
    const std::int64_t every = std::max<std::int64_t>(1, s.steps / 20);  // about 5% of an epoch
    if (o.progress && (s.step % every == 0 || s.step + 1 == s.steps)) {
      const int width = 30, filled = int(double(width) * double(s.step + 1) / double(s.steps));
      o.progress(fmt::format("epoch {}/{} [{}{}] {:3.0f}%  loss {:.4f}  accuracy {:.1f}%  lr {:.3g}  {:.0f} samples/s",
                             s.epoch + 1, epochs, std::string(std::size_t(filled), '#'),
                             std::string(std::size_t(width - filled), '.'), 100.0 * double(s.step + 1) / double(s.steps),
                             s.loss, 100 * s.accuracy, s.lr, s.samples_per_s));
    }
  };
  auto on_epoch = [&](const nn::EpochInfo& e) {
    log_csv += fmt::format("{},{:.9g},{:.9g},{:.9g},{:.9g},{:.9g},{:.3f},{:.1f},{:.3f},{:.3f},{},{:.4f},{:.4f}\n", e.epoch + 1,
                           e.train_loss, e.train_accuracy, e.test.loss, e.test.accuracy, e.test.top3, e.seconds,
                           e.samples_per_s, e.data_seconds, double(e.peak_activation_bytes) / (1 << 20), e.skipped_steps,
                           1e3 * e.allreduce_hook_seconds, 1e3 * e.allreduce_wait_seconds);
    // The checkpoint and both logs describe the same epoch when any of them is read.
    if (writer) {
      write_file_atomically(o.out + "/checkpoint.bin", trainer.checkpoint(o.model));
      write_file_atomically(o.out + "/log.csv", log_csv);
      write_file_atomically(o.out + "/steps.csv", steps_csv);
    }
    result.history.push_back(e);
    result.skipped_steps += e.skipped_steps;
    if (e.test.loss < best_loss) {
      best_loss = e.test.loss;
      since_best = 0;
    } else if (o.patience > 0 && ++since_best >= o.patience) {
      result.stopped_early = true;
      return false;
    }
    return true;
  };
  // Set after construction: the epoch callback writes the trainer's own checkpoint.
  trainer.set_callbacks(on_step, on_epoch);
  trainer.run(test_data);
  result.layer_times = trainer.layer_times();
  result.plot_note = !writer ? "" : o.plots ? run_plot_script(o.out) : "curves not drawn: --no-plots";
  if (writer)
    for (const auto& entry : fs::directory_iterator(o.out)) result.files.push_back(entry.path().filename().string());
  std::sort(result.files.begin(), result.files.end());
  return result;
}

Table epoch_table(const std::vector<nn::EpochInfo>& history) {
  Table t({{"epoch"}, {"train loss"}, {"train acc"}, {"test loss"}, {"test acc"}, {"top-3"}, {"s"}, {"samples/s"}});
  for (const nn::EpochInfo& e : history)
    t.add_row({std::to_string(e.epoch + 1), fmt::format("{:.4f}", e.train_loss), fmt::format("{:.1f}%", 100 * e.train_accuracy),
               fmt::format("{:.4f}", e.test.loss), fmt::format("{:.2f}%", 100 * e.test.accuracy),
               fmt::format("{:.1f}%", 100 * e.test.top3), fmt::format("{:.1f}", e.seconds),
               fmt::format("{:.0f}", e.samples_per_s)});
  return t;
}

namespace {
std::string label_name(std::int64_t label, const std::vector<std::int64_t>& classes) {
  return class_name(classes.empty() ? label : classes.at(std::size_t(label)));
}
}  // namespace

Table class_table(const nn::Metrics& m, const std::vector<std::int64_t>& classes) {
  Table t({{"class", Table::Align::left}, {"precision"}, {"recall"}});
  for (std::size_t c = 0; c < m.precision.size(); ++c)
    t.add_row({label_name(std::int64_t(c), classes), fmt::format("{:.1f}%", 100 * m.precision[c]),
               fmt::format("{:.1f}%", 100 * m.recall[c])});
  return t;
}

Table confusion_table(const nn::Metrics& m, const std::vector<std::int64_t>& classes) {
  std::vector<Table::Column> columns{{"true \\ predicted", Table::Align::left}};
  for (std::size_t c = 0; c < m.confusion.size(); ++c) columns.push_back({std::to_string(c)});
  Table t(columns);
  for (std::size_t r = 0; r < m.confusion.size(); ++r) {
    std::vector<std::string> row{fmt::format("{} {}", r, label_name(std::int64_t(r), classes))};
    for (std::int64_t v : m.confusion[r]) row.push_back(std::to_string(v));
    t.add_row(row);
  }
  return t;
}

Table layer_time_table(const nn::LayerTimes& times) {
  const bool recomputed = std::any_of(times.recompute.begin(), times.recompute.end(), [](double s) { return s > 0; });
  std::vector<Table::Column> columns{{"layer", Table::Align::left}, {"forward ms"}, {"backward ms"}};
  if (recomputed) columns.push_back({"recompute ms"});
  columns.push_back({"share"});
  Table t(columns);
  double total = 0;
  for (std::size_t i = 0; i < times.names.size(); ++i) total += times.forward[i] + times.backward[i] + times.recompute[i];
  const double per_step = 1e3 / double(std::max<std::int64_t>(times.steps, 1));
  for (std::size_t i = 0; i < times.names.size(); ++i) {
    const double own = times.forward[i] + times.backward[i] + times.recompute[i];
    std::vector<std::string> row{fmt::format("{} {}", i, times.names[i]), fmt::format("{:.3f}", times.forward[i] * per_step),
                                 fmt::format("{:.3f}", times.backward[i] * per_step)};
    if (recomputed) row.push_back(fmt::format("{:.3f}", times.recompute[i] * per_step));
    row.push_back(fmt::format("{:.1f}%", total > 0 ? 100 * own / total : 0.0));
    t.add_row(row);
  }
  return t;
}

}  // namespace flopslab::bench
