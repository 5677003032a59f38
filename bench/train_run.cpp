#include "bench/train_run.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "bench/files.h"
#include "bench/report.h"
#include "nn/checkpoint.h"

namespace flopslab::bench {
namespace fs = std::filesystem;
namespace {

const char* const kClassNames[] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                   "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

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

std::string train_run_problem(const TrainRunOptions& o) {
  const std::vector<std::string> models = {"mlp", "mlp-dropout", "cnn", "cnn-nobn"};
  if (std::find(models.begin(), models.end(), o.model) == models.end())
    return "--model: '" + o.model + "' is not a model (valid: mlp, mlp-dropout, cnn, cnn-nobn)";
  const std::vector<std::string> optimizers = {"sgd", "nesterov", "adam", "adamw", "rmsprop"};
  if (std::find(optimizers.begin(), optimizers.end(), o.optimizer) == optimizers.end())
    return "--optimizer: '" + o.optimizer + "' is not an optimizer (valid: sgd, nesterov, adam, adamw, rmsprop)";
  if (o.epochs < 1) return "--epochs: must be at least 1, got " + std::to_string(o.epochs);
  if (o.batch < 1) return "--batch: must be at least 1, got " + std::to_string(o.batch);
  if (!(o.lr > 0) || !std::isfinite(o.lr)) return "--lr: must be a positive number, got " + fmt::format("{}", o.lr);
  if (o.weight_decay < 0) return "--weight-decay: must be 0 or more";
  if (o.workers < 0) return "--workers: must be 0 or more";
  if (o.augment.jitter_low <= 0 || o.augment.jitter_high < o.augment.jitter_low)
    return "--jitter: needs 0 < low <= high";
  if (o.out.empty()) return "--out: a directory to write is required";
  if (o.resume) {
    if (!fs::exists(o.out + "/checkpoint.bin"))
      return "--resume: " + o.out + "/checkpoint.bin does not exist (run without --resume first)";
  } else if (fs::exists(o.out) && !o.force) {
    return o.out + " already exists; pass --resume to continue it, --force to replace it, or choose another --out";
  }
  const fs::path parent = fs::absolute(o.out).parent_path();
  if (!fs::is_directory(parent)) return "cannot create " + o.out + ": " + parent.string() + " is not a directory";
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

TrainRunResult run_training(const TrainRunOptions& o) {
  if (const std::string problem = train_run_problem(o); !problem.empty()) throw std::invalid_argument(problem);
  if (o.progress) o.progress("loading " + o.data);
  LoadedData loaded = load_training_data(o.data, o.train_limit, o.test_limit);
  nn::Dataset& train_data = loaded.train;
  const nn::Dataset& test_data = loaded.test;
  nn::Transforms transforms = o.augment;
  transforms.mean = loaded.normalise.mean, transforms.stddev = loaded.normalise.stddev;
  if (o.batch > train_data.size())
    throw std::invalid_argument(fmt::format("--batch: {} is more than the {} training samples", o.batch, train_data.size()));

  std::mt19937_64 rng(o.seed);
  auto model = nn::make_model(o.model, rng);
  auto optimizer = nn::make_optimizer(o.optimizer, model->parameters(), o.lr, o.weight_decay);
  TrainRunResult result;
  std::string log_csv = "epoch,train_loss,train_accuracy,test_loss,test_accuracy,test_top3,seconds,samples_per_s\n";
  std::string steps_csv = "epoch,step,loss,accuracy\n";
  if (o.resume) {
    const std::string path = o.out + "/checkpoint.bin";
    result.first_epoch = int(nn::restore_checkpoint(read_file(path), path, o.model, *model, *optimizer).epoch);
    if (result.first_epoch >= o.epochs)
      throw std::invalid_argument(fmt::format("--resume: the checkpoint has {} epochs already; ask for more --epochs",
                                              result.first_epoch));
    log_csv = rows_up_to(read_file(o.out + "/log.csv"), result.first_epoch);
    steps_csv = rows_up_to(read_file(o.out + "/steps.csv"), result.first_epoch);
  } else {
    if (fs::exists(o.out)) fs::remove_all(o.out);
    fs::create_directories(o.out);
  }

  double best_loss = std::numeric_limits<double>::infinity();
  int since_best = 0;
  nn::TrainOptions t{.epochs = o.epochs, .batch = o.batch, .threads = o.threads, .seed = o.seed,
                     .first_epoch = result.first_epoch, .transforms = transforms, .workers = o.workers};
  t.on_step = [&](const nn::StepInfo& s) {
    steps_csv += fmt::format("{},{},{:.6f},{:.6f}\n", s.epoch + 1, s.step + 1, s.loss, s.accuracy);
    const std::int64_t every = std::max<std::int64_t>(1, s.steps / 20);  // about 5% of an epoch
    if (o.progress && (s.step % every == 0 || s.step + 1 == s.steps)) {
      const int width = 30, filled = int(double(width) * double(s.step + 1) / double(s.steps));
      o.progress(fmt::format("epoch {}/{} [{}{}] {:3.0f}%  loss {:.4f}  accuracy {:.1f}%  {:.0f} samples/s", s.epoch + 1,
                             o.epochs, std::string(std::size_t(filled), '#'), std::string(std::size_t(width - filled), '.'),
                             100.0 * double(s.step + 1) / double(s.steps), s.loss, 100 * s.accuracy, s.samples_per_s));
    }
  };
  t.on_epoch = [&](const nn::EpochInfo& e) {
    log_csv += fmt::format("{},{:.6f},{:.6f},{:.6f},{:.6f},{:.6f},{:.3f},{:.1f}\n", e.epoch + 1, e.train_loss,
                           e.train_accuracy, e.test.loss, e.test.accuracy, e.test.top3, e.seconds, e.samples_per_s);
    // The checkpoint and both logs describe the same epoch when any of them is read.
    write_file_atomically(o.out + "/checkpoint.bin", nn::serialize_checkpoint(*model, *optimizer, {o.model, e.epoch + 1}));
    write_file_atomically(o.out + "/log.csv", log_csv);
    write_file_atomically(o.out + "/steps.csv", steps_csv);
    result.history.push_back(e);
    if (e.test.loss < best_loss) {
      best_loss = e.test.loss;
      since_best = 0;
    } else if (o.patience > 0 && ++since_best >= o.patience) {
      result.stopped_early = true;
      return false;
    }
    return true;
  };
  nn::train(*model, *optimizer, train_data, test_data, t);
  result.plot_note = o.plots ? run_plot_script(o.out) : "curves not drawn: --no-plots";
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

Table class_table(const nn::Metrics& m) {
  Table t({{"class", Table::Align::left}, {"precision"}, {"recall"}});
  for (std::size_t c = 0; c < m.precision.size(); ++c)
    t.add_row({c < 10 ? kClassNames[c] : std::to_string(c), fmt::format("{:.1f}%", 100 * m.precision[c]),
               fmt::format("{:.1f}%", 100 * m.recall[c])});
  return t;
}

Table confusion_table(const nn::Metrics& m) {
  std::vector<Table::Column> columns{{"true \\ predicted", Table::Align::left}};
  for (std::size_t c = 0; c < m.confusion.size(); ++c) columns.push_back({std::to_string(c)});
  Table t(columns);
  for (std::size_t r = 0; r < m.confusion.size(); ++r) {
    std::vector<std::string> row{fmt::format("{} {}", r, r < 10 ? kClassNames[r] : "")};
    for (std::int64_t v : m.confusion[r]) row.push_back(std::to_string(v));
    t.add_row(row);
  }
  return t;
}

}  // namespace flopslab::bench
