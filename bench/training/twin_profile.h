// Where a training step's time goes, flopslab's against its PyTorch twin's: each layer's
// forward and backward, the optimizer's update and the rest (loss, bookkeeping), for one model
// at one batch and thread count. Both sides train on one fixed batch of random images with
// Adam, ours through TrainingStepper (step_timing.h) with the training loop's own layer
// timers, PyTorch's through scripts/torch_step_profile.py with hooks on each layer.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bench/training/step_timing.h"
#include "harness/json.h"
#include "harness/table.h"

namespace flopslab::bench {

struct TwinStepProfile {
  bool ran = false;
  std::string note;  // why it did not run
  std::string torch_version;
  double step_ms = 0, backward_ms = 0, optimizer_ms = 0;  // medians of steps without hooks
  double hooked_step_ms = 0;                              // the step's median with the hooks on
  struct Layer {
    std::string name;  // PyTorch's class name: "Conv2d"
    double forward_ms = 0, backward_ms = 0;
  };
  std::vector<Layer> layers;

  // From the script's JSON; throws std::runtime_error naming what is missing or malformed.
  static TwinStepProfile from_json(const Json& j);
};

struct StepProfileComparison {
  std::string model;
  std::int64_t batch = 64;
  int threads = 1;
  StepTiming ours;  // profiled: layers, backward_s and update_s set
  TwinStepProfile twin;
};

// Measures ours, then runs the twin with `python` (bench::torch_python(); empty: the twin is
// not run and its note says why).
StepProfileComparison compare_step_profiles(const std::string& python, const std::string& model, std::int64_t batch,
                                            int threads, bool quick);

// One row per layer (ours and PyTorch's "forward + backward" ms, and PyTorch's time over ours),
// then all layers, the optimizer, the rest of the step, and the whole step. Without the twin, ours alone;
// when the two models' layer lists differ, ours alone with the twin's totals.
Table step_profile_table(const StepProfileComparison& c);
// One paragraph: both steps, the ratio, and the layers where the most time goes apart.
std::string step_profile_finding(const StepProfileComparison& c);
Json step_profile_json(const StepProfileComparison& c);

}  // namespace flopslab::bench
