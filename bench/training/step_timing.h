// Training steps timed on either device (lesson 20's CPU-against-GPU sweep): a fresh model,
// Adam, a batch of random images in [0, 1) with random labels (the work does not depend on
// the values), each step copying its batch from the host as training does, then forward,
// cross-entropy, backward and the update. Reading the loss back ends every step, so the host
// clock sees the GPU's work.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "harness/timing.h"
#include "nn/module.h"

namespace flopslab::bench {

struct StepTimingOptions {
  std::string model = "mlp";
  nn::DeviceTag device = nn::DeviceTag::cpu;
  std::int64_t batch = 64;
  int threads = 1;
  nn::GpuBackend backend = nn::GpuBackend::own;
  bool graph = false;  // GPU: forward, loss and backward replayed as one CUDA graph (nn/graph.h)
  // Each layer's forward and backward timed (the training loop's own timers) and counted
  // (nn::LayerCost) over the timed steps: the roofline's training points. Not with `graph`.
  bool profile = false;
  TimingOptions timing;
};

struct StepTiming {
  double step_s = 0, spread = 0;  // median seconds per step, interquartile range / median
  double samples_per_s = 0;       // batch / step_s
  // batch / the fastest step: what the machine can do, which another process on a shared
  // machine can only lower (the lesson's checks use it; the table shows the median)
  double best_samples_per_s = 0;
  double copy_s = 0;              // the batch's host-to-device copy alone (0 on the CPU)
  double backward_s = 0;          // CPU: median seconds of the backward alone (0 on the GPU)
  double update_s = 0;            // CPU: median seconds of the optimizer's update (0 on the GPU)
  double launches_per_step = 0;   // GPU kernel launches the stack issued per step
  double first_loss = 0, last_loss = 0;
  int steps = 0;                  // steps run in all, warm-up included
  // With `profile`: the layers' seconds summed over the timed steps (layers.steps of them), their
  // costs at this batch, and the model's parameter count (the optimizer's traffic).
  nn::LayerTimes layers;
  std::vector<nn::LayerCost> layer_costs;
  double parameters = 0;
};

// One model training on one fixed batch, a step at a time (the classroom race's contestant;
// time_training_steps times it). Throws std::invalid_argument for an unknown model or a batch
// below 1, and what nn::move_to throws for a GPU that cannot be used.
class TrainingStepper {
 public:
  explicit TrainingStepper(const StepTimingOptions& options);
  ~TrainingStepper();
  TrainingStepper(const TrainingStepper&) = delete;
  TrainingStepper& operator=(const TrainingStepper&) = delete;
  void step();  // copy in, forward, loss, backward, update; the loss is back on the host after it
  double first_loss() const { return first_loss_; }
  double last_loss() const { return last_loss_; }
  int steps() const { return steps_; }
  // CPU: seconds of each step's backward, and of its optimizer update, so far (the host clock
  // sees CPU work only).
  const std::vector<double>& backward_seconds() const { return backward_seconds_; }
  const std::vector<double>& update_seconds() const { return update_seconds_; }
  void upload_only();  // the batch's copy alone (synchronised), for timing it
  // With options.profile: the layers' times since the last reset, and their costs.
  const nn::LayerTimes& layer_times() const;
  void reset_layer_times();
  std::vector<nn::LayerCost> layer_costs();
  double parameter_count();

 private:
  struct State;
  std::unique_ptr<State> s_;
  double first_loss_ = 0, last_loss_ = 0;
  int steps_ = 0;
  std::vector<double> backward_seconds_, update_seconds_;
};

StepTiming time_training_steps(const StepTimingOptions& options);

}  // namespace flopslab::bench
