// Models of the lessons and the training loop. The loop reports through callbacks (the hooks
// of seed 001): one per step and one per epoch, so logging, progress bars, checkpoints and
// early stopping live with the caller.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "nn/data.h"
#include "nn/layers.h"
#include "nn/optim.h"

namespace flopslab::nn {

// "mlp": seed 002's 784-256-128-64-10 with ReLU; "mlp-dropout": the same with dropout 0.2
// after each hidden layer. "cnn": two (conv 3x3 + BatchNorm + ReLU + 2x2 max pool) blocks, 16
// and 32 channels, then 1568-128-10; "cnn-nobn": the same without BatchNorm. Throws on
// another name.
std::unique_ptr<Sequential> make_model(const std::string& name, std::mt19937_64& rng);

// "sgd" (momentum 0.9), "nesterov", "adam", "adamw", "rmsprop"; weight decay for all.
std::unique_ptr<Optimizer> make_optimizer(const std::string& name, std::vector<Parameter*> params, double lr,
                                          double weight_decay);

struct Metrics {
  double loss = 0, accuracy = 0, top3 = 0;
  std::vector<std::vector<std::int64_t>> confusion;  // [true][predicted]
  std::vector<double> precision, recall;             // per class
};
// Evaluation mode; of the transforms only the normalisation applies.
Metrics evaluate(Module& model, const Dataset& data, std::int64_t batch, int threads, const Transforms& transforms = {});

struct StepInfo {
  int epoch = 0;
  std::int64_t step = 0, steps = 0;
  double loss = 0, accuracy = 0;  // running means over the epoch so far
  double samples_per_s = 0;
};
struct EpochInfo {
  int epoch = 0;
  double train_loss = 0, train_accuracy = 0, seconds = 0, samples_per_s = 0;
  Metrics test;
};

struct TrainOptions {
  int epochs = 5;
  std::int64_t batch = 64;
  int threads = 1;
  std::uint64_t seed = 0;
  int first_epoch = 0;  // > 0 when resuming
  Transforms transforms;  // augmentation and normalisation of the training batches
  bool mse_loss = false;  // MSE between logits and one-hot labels instead of cross-entropy
  int workers = 1;        // threads preparing batches ahead (0: the training thread itself)
  std::function<void(const StepInfo&)> on_step;
  // Returns false to stop (early stopping).
  std::function<bool(const EpochInfo&)> on_epoch;
};

// Trains with cross-entropy; a non-finite loss stops with an error naming the epoch and step.
std::vector<EpochInfo> train(Module& model, Optimizer& optimizer, const Dataset& train_data, const Dataset& test_data,
                             const TrainOptions& options);

}  // namespace flopslab::nn
