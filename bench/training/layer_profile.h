// Training layers across batch sizes, for the roofline: each layer's forward and backward time
// from the training loop's own timers, with its FLOPs and compulsory bytes (nn::LayerCost), at
// several batch sizes, and the whole step. A layer's intensity grows with the batch (its
// weights are read once per step however many samples use them) until it crosses the ridge.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "bench/training/step_timing.h"
#include "harness/json.h"

namespace flopslab::bench {

struct LayerProfileOptions {
  std::vector<std::string> models{"mlp", "cnn"};
  std::vector<std::int64_t> batches{1, 16, 64, 256};
  int threads = 1;
  nn::DeviceTag device = nn::DeviceTag::cpu;
  bool quick = false;  // short timing
  std::function<void(const std::string&)> progress;
};

// Adam reads each weight, its gradient and both moments and writes the weight and the moments.
constexpr double kAdamBytesPerParameter = 7 * 4;
// What a step copies in per sample on the GPU: a 1x28x28 float32 image and its int64 label.
constexpr double kSampleBytes = 28 * 28 * 4 + 8;

struct BatchProfile {
  std::string model;
  std::int64_t batch = 0;
  int threads = 1;
  std::string device = "cpu";
  StepTiming timing;  // with layers and layer_costs
};

std::vector<BatchProfile> profile_layers(const LayerProfileOptions& options);

// One training step's work as the roofline counts it: its layers' FLOPs and compulsory bytes
// (forward and backward) plus Adam's traffic, and the largest single layer's bytes (its working
// set). Measured by one profiled step of a fresh model on the CPU (the counts are the same on
// the GPU).
struct StepCost {
  double flops = 0, bytes = 0, largest_layer_bytes = 0;
};
StepCost training_step_cost(const std::string& model, std::int64_t batch);

// The training section's "layer_profiles": per model and batch, the step's median time and each
// layer's mean forward and backward time with its cost.
Json layer_profiles_json(const std::vector<BatchProfile>& profiles);

}  // namespace flopslab::bench
