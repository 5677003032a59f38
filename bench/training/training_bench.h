// The training benchmark the report's training section runs: the MLP and the CNN trained for a short fixed budget by the
// stack in nn/ and by their PyTorch twin (scripts/torch_twin.py) on the same data, batch,
// optimizer and threads, in the same run; training samples per second, test accuracy, the
// per-layer forward and backward times of ours from the training loop's own timers, and each
// model's step against PyTorch's, layer by layer (twin_profile.h).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "bench/training/layer_profile.h"
#include "bench/training/twin_profile.h"
#include "harness/external.h"
#include "harness/json.h"
#include "nn/module.h"

namespace flopslab::bench {

// The recipe both stacks train with: Adam at 0.003, batch 64 (seed 002).
inline constexpr double kTrainingBenchLr = 0.003;

struct TrainingBenchOptions {
  bool quick = false;
  int threads = 1;
  std::function<void(const std::string&)> progress;
};

struct TwinRun {
  bool ran = false;
  std::string torch_version;  // "2.15.0+cu132"
  std::string note;           // why it did not run
  double samples_per_s = 0, accuracy = 0;
};

struct ModelBench {
  std::string model;
  std::int64_t train_images = 0, test_images = 0, batch = 64;
  int epochs = 1;
  double samples_per_s = 0, accuracy = 0;
  nn::LayerTimes layers;
  TwinRun twin;
};

struct TrainingBench {
  std::vector<ModelBench> models;
  std::vector<BatchProfile> layer_profiles;  // both models' layers at several batch sizes (the roofline's)
  std::vector<StepProfileComparison> step_profiles;  // both models' steps at batch 64, against PyTorch's
  std::string python;  // the interpreter the twin ran with
};

TrainingBench run_training_bench(const TrainingBenchOptions& options);
Json training_bench_json(const TrainingBench& bench);

}  // namespace flopslab::bench
