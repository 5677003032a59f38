// `flopslab train`: one training run of the stack in nn/ on Fashion-MNIST, with its files.
// In --out: log.csv (one row per epoch), steps.csv (one row per step), checkpoint.bin (after
// every epoch), curves.png (loss and accuracy per epoch, through scripts/plot). --resume
// continues from checkpoint.bin and gives the numbers an uninterrupted run would have.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "bench/table.h"
#include "nn/train.h"

namespace flopslab::bench {

struct TrainRunOptions {
  std::string model = "mlp", optimizer = "adam", data = nn::kFashionMnistDir, out;
  int epochs = 5, threads = 1, patience = 0;  // patience 0: no early stopping
  std::int64_t batch = 64, train_limit = 0, test_limit = 0;  // limits 0: every sample
  double lr = 0.003, weight_decay = 0;
  std::uint64_t seed = 0;
  bool resume = false, force = false, plots = true;
  int workers = 1;         // threads preparing batches ahead
  nn::Transforms augment;  // flip, crop, jitter, mixup (normalisation is added from the data)
  std::function<void(const std::string&)> progress;
};

// Fashion-MNIST (or any MNIST-format set in `dir`), optionally cut to the first samples, and
// the normalisation computed from its training images.
struct LoadedData {
  nn::Dataset train, test;
  nn::Transforms normalise;  // mean and standard deviation only
};
LoadedData load_training_data(const std::string& dir, std::int64_t train_limit = 0, std::int64_t test_limit = 0);

// Empty when the options can run; otherwise one sentence naming the problem.
std::string train_run_problem(const TrainRunOptions& options);

struct TrainRunResult {
  std::vector<nn::EpochInfo> history;  // this run's epochs (after the resumed ones)
  int first_epoch = 0;
  bool stopped_early = false;
  std::string plot_note;  // why curves.png is missing, or empty
  std::vector<std::string> files;
};
TrainRunResult run_training(const TrainRunOptions& options);

// One row per epoch: losses, accuracies, time and training samples per second.
Table epoch_table(const std::vector<nn::EpochInfo>& history);
// Per-class precision and recall, and the confusion matrix, of one evaluation.
Table class_table(const nn::Metrics& metrics);
Table confusion_table(const nn::Metrics& metrics);

}  // namespace flopslab::bench
