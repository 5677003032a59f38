// `flopslab train`: one training run of the stack in nn/ on Fashion-MNIST, with its files.
// In --out: log.csv (one row per epoch), steps.csv (one row per step, with its learning rate
// and momentum), checkpoint.bin (after every epoch), curves.png (loss, accuracy and the
// learning-rate curve, through scripts/plot). --resume continues from checkpoint.bin and gives
// the numbers an uninterrupted run would have.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "harness/table.h"
#include "nn/ddp.h"
#include "nn/train.h"

namespace flopslab::bench {

struct TrainRunOptions {
  std::string model = "mlp", optimizer = "adam", data = nn::kFashionMnistDir, out;
  std::string recipe;  // a recipe file; replaces optimizer, lr, epochs and weight decay
  int epochs = 5, patience = 0;  // patience 0: no early stopping
  std::int64_t train_limit = 0, test_limit = 0;  // 0: every sample
  double lr = 0.003, weight_decay = 0;
  bool resume = false, force = false, plots = true;
  // Fine-tuning: start from another run's checkpoint, loading what matches by name and shape;
  // new_parts (e.g. "head") are left as initialised even where they match.
  std::string init_from;
  std::vector<std::string> new_parts;
  std::vector<std::int64_t> classes;  // train on these classes only, relabelled 0, 1, ...
  bool sync_bn = false;               // with trainer.comm: BatchNorm statistics over all ranks
  // What the Trainer itself takes, passed on as it is, except: trainer.batch 0 means the
  // recipe's batch size (else 64); trainer.transforms holds the augmentation only (flip, crop,
  // jitter, mixup), the data's normalisation is added to it; trainer.device_comm is made here
  // (NCCL) for GPU ranks. With trainer.comm set, only rank 0 writes files and reports progress.
  nn::TrainOptions trainer;
  std::function<void(const std::string&)> progress;
};

// Fashion-MNIST (or any MNIST-format set in `dir`), optionally cut to the first samples, and
// the normalisation computed from its training images.
struct LoadedData {
  nn::Dataset train, test;
  nn::Transforms normalise;  // mean and standard deviation only
};
// Why `path` is not a checkpoint flopslab can read (missing, a directory, another kind of
// file, a damaged one); empty when it is, or when no path is given.
std::string checkpoint_file_problem(const std::string& path);

LoadedData load_training_data(const std::string& dir, std::int64_t train_limit = 0, std::int64_t test_limit = 0);
// The samples of `classes` only (in their order), relabelled 0 .. classes.size() - 1.
nn::Dataset select_classes(const nn::Dataset& data, const std::vector<std::int64_t>& classes);

// Empty when the options can run; otherwise one sentence naming the problem.
std::string train_run_problem(const TrainRunOptions& options);

struct TrainRunResult {
  std::vector<nn::EpochInfo> history;  // this run's epochs (after the resumed ones)
  int first_epoch = 0, epochs = 0;
  std::int64_t steps_per_epoch = 0, batch = 0;
  bool stopped_early = false;
  std::string recipe;                  // its description and source
  std::vector<std::string> init_notes;  // what --init-from did not load, and why
  nn::LayerTimes layer_times;           // with --profile
  std::int64_t skipped_steps = 0;
  std::string plot_note;  // why curves.png is missing, or empty
  std::vector<std::string> files;
};
// Throws std::invalid_argument for what the options, recipe or checkpoint make impossible
// (before anything is written), and RanksDisagree, on every rank at once, when the ranks of a
// data-parallel run do not hold the same model or data.
TrainRunResult run_training(const TrainRunOptions& options);
struct RanksDisagree : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

// One row per epoch: losses, accuracies, time and training samples per second.
Table epoch_table(const std::vector<nn::EpochInfo>& history);
// Per-class precision and recall, and the confusion matrix, of one evaluation.
Table class_table(const nn::Metrics& metrics, const std::vector<std::int64_t>& classes = {});
Table confusion_table(const nn::Metrics& metrics, const std::vector<std::int64_t>& classes = {});
// Milliseconds per step in each layer's forward and backward (and recomputation), with shares.
Table layer_time_table(const nn::LayerTimes& times);

}  // namespace flopslab::bench
