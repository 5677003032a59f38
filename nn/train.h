// The training loop (the models of the lessons are nn/models.h, evaluation nn/evaluate.h,
// both included here). The loop follows a recipe (nn/recipe.h: phases
// of optimizers, learning rates, momenta and augmentation) and reports through callbacks (the
// hooks of seed 001): one per step and one per epoch, so logging, progress bars, checkpoints
// and early stopping live with the caller. Gradient accumulation, mixed precision with
// dynamic loss scaling, gradient checkpointing and per-layer timing are options of the loop.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "nn/data.h"
#include "nn/ddp.h"
#include "nn/evaluate.h"
#include "nn/grad_scaler.h"
#include "nn/layers.h"
#include "nn/models.h"
#include "nn/optim.h"
#include "nn/recipe.h"
#include "nn/schedule.h"

namespace flopslab::nn {

class GraphedStep;
struct LossResult;

struct StepInfo {
  int epoch = 0;
  std::int64_t step = 0, steps = 0;  // optimizer steps of this epoch
  std::int64_t global_step = 0;      // since the start of the recipe
  std::size_t phase = 0;
  double loss = 0, accuracy = 0;     // running means over the epoch so far
  double step_loss = 0;              // this step's own loss (the LR finder reads it)
  double samples_per_s = 0;
  double lr = 0, momentum = 0;       // of the first parameter group, as used by this step
  double loss_scale = 1;
  bool skipped = false;              // the loss scaler found an overflow and skipped the update
  double data_seconds = 0, compute_seconds = 0;  // this epoch so far: waiting for batches, the rest
};
struct EpochInfo {
  int epoch = 0;
  double train_loss = 0, train_accuracy = 0, seconds = 0, samples_per_s = 0;
  double data_seconds = 0, compute_seconds = 0;
  std::int64_t steps = 0, skipped_steps = 0;
  // The most memory a step held above what it started with (the run's first step, which also
  // allocates the optimizer's state, left out).
  std::int64_t peak_activation_bytes = 0;
  std::int64_t launches_per_step = 0;  // GPU launches of the epoch's last step (a graph counts once)
  // Data-parallel: per step, the mean seconds of backward's all-reduce work (starting and
  // progressing buckets) and of waiting for them after backward (all of it without overlap).
  double allreduce_hook_seconds = 0, allreduce_wait_seconds = 0;
  Metrics test;
};

struct TrainOptions {
  std::int64_t batch = 64;  // samples per forward (a micro-batch when accumulating)
  int threads = 1;
  std::uint64_t seed = 0;
  Transforms transforms;  // normalisation, and the augmentation of phases that name none
  bool mse_loss = false;  // MSE between logits and one-hot labels instead of cross-entropy
  int workers = 1;        // threads preparing batches ahead (0: the training thread itself)
  // Gradient accumulation: each optimizer step sums the gradients of `accumulate` batches
  // (the loss divided by it), the same update as one batch of accumulate * batch samples.
  int accumulate = 1;
  Precision precision = Precision::fp32;
  std::optional<GradScaler::Settings> loss_scaling;  // dynamic loss scaling; none: off
  int checkpoint_segments = 0;  // gradient checkpointing (Sequential::set_checkpoint_segments)
  // Used by phases that give none: learning-rate multipliers and frozen parts (nn/parts.h).
  std::vector<std::pair<std::string, double>> lr_mult;
  std::vector<std::string> freeze;
  bool profile = false;  // per-layer forward and backward times (Trainer::layer_times)
  // Where the model trains: the Trainer moves it there (nn::move_to). On the GPU so far: fp32,
  // cross-entropy, no accumulation or loss scaling, and models whose layers have GPU halves.
  DeviceTag device = DeviceTag::cpu;
  GpuBackend gpu_backend = GpuBackend::own;  // the GPU layers' GEMMs: own CUDA ladder or cuBLAS
  // Data-parallel training (nn/ddp.h): this rank's shard of each epoch, gradients averaged
  // over the ranks in buckets, rank 0's initial weights everywhere. Null: one process.
  Communicator* comm = nullptr;
  DeviceCollectives* device_comm = nullptr;  // --device cuda with comm: NCCL (made before the model moves)
  BucketSizes buckets;
  bool overlap = true;  // start each bucket's all-reduce during backward (false: after it)
  bool graph = false;           // forward, loss and backward as one CUDA graph (nn/graph.h)
  bool data_on_device = false;  // the training images resident on the GPU (nn/device_data.h)
  std::function<void(const StepInfo&)> on_step;
  // Returns false to stop (early stopping).
  std::function<bool(const EpochInfo&)> on_epoch;
  // Returns true to stop after this step (the LR finder's divergence test).
  std::function<bool(const StepInfo&)> stop_after;
};

// A run of a recipe on one model: the optimizer of the current phase, its schedule, the loss
// scaler and the position, which a checkpoint saves and restores.
class Trainer {
 public:
  // Throws std::invalid_argument for what cannot run: a batch larger than the data, a phase
  // with no whole step, a schedule that does not fit its phase, a part the model lacks.
  Trainer(Sequential& model, Recipe recipe, const Dataset& train_data, TrainOptions options);
  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  std::int64_t steps_per_epoch() const { return steps_per_epoch_; }
  std::int64_t total_steps() const { return total_steps_; }
  int epochs() const;            // epochs the recipe touches (the last may be partial)
  int completed_epochs() const;  // where a resumed run continues
  const Recipe& recipe() const { return recipe_; }
  const std::vector<PhaseSpan>& phases() const { return spans_; }

  // Trains from the current position to the end of the recipe (or until on_epoch or
  // stop_after says stop), evaluating on test_data after every epoch (not when it is empty). A non-finite loss stops with an error naming
  // the epoch and step; a non-finite input names the sample.
  std::vector<EpochInfo> run(const Dataset& test_data);
  // Replaces the options' callbacks (an epoch callback that checkpoints needs the trainer).
  void set_callbacks(std::function<void(const StepInfo&)> on_step, std::function<bool(const EpochInfo&)> on_epoch) {
    o_.on_step = std::move(on_step), o_.on_epoch = std::move(on_epoch);
  }

  // Checkpoint bytes after completed epochs, and their inverse. restore() throws
  // std::invalid_argument when the checkpoint belongs to another recipe, batch or
  // accumulation (the schedule would not continue), std::runtime_error when it is damaged.
  std::string checkpoint(const std::string& model_name) const;
  void restore(const std::string& bytes, const std::string& what, const std::string& model_name);

  Optimizer& optimizer() { return *optimizer_; }
  const GradScaler* scaler() const { return scaler_ ? &*scaler_ : nullptr; }
  const LayerTimes& layer_times() const { return times_; }
  // The learning rate and momentum of group 0 at every step so far (the recipe's curve).
  const std::vector<std::pair<double, double>>& hyperparameters() const { return curve_; }

 private:
  void enter_phase(std::size_t k);
  void set_hyperparameters();
  std::size_t phase_at(std::int64_t step) const;
  Transforms transforms_at(std::int64_t step) const;
  ScheduleJson state() const;
  // One step, read as llm.c's: begin_step (the phase, its rates), then per micro-batch
  // forward_and_loss and backward (the gradient all-reduce inside), then update.
  struct EpochTally;
  std::pair<double, double> begin_step();  // this step's learning rate and momentum (group 0)
  LossResult forward_and_loss(const Batch& b, const Context& ctx, GraphedStep* graphed, Tensor& logits);
  void backward(LossResult& loss, const Context& ctx, GradientReducer* reducer, EpochTally& tally);
  bool update(const std::vector<Parameter*>& params);  // false: the loss scaler skipped it (overflow)
  EpochInfo finish_epoch(int epoch, EpochTally& tally, double seconds, double data_seconds, Communicator* comm,
                         const Dataset& test_data);

  Sequential& model_;
  Recipe recipe_;
  const Dataset& train_;
  TrainOptions o_;
  std::int64_t steps_per_epoch_ = 0, total_steps_ = 0, step_ = 0;
  std::vector<PhaseSpan> spans_;
  std::size_t phase_ = 0;
  std::vector<double> multipliers_;
  std::unique_ptr<Optimizer> optimizer_;
  std::unique_ptr<LrScheduler> scheduler_;
  std::optional<GradScaler> scaler_;
  LayerTimes times_;
  std::vector<std::pair<double, double>> curve_;
  bool entered_ = false;
};

// The simple case the early lessons use: one optimizer at a constant learning rate for a
// number of epochs (a one-phase recipe).
std::vector<EpochInfo> train(Sequential& model, const std::string& optimizer, double lr, int epochs,
                             const Dataset& train_data, const Dataset& test_data, const TrainOptions& options);

}  // namespace flopslab::nn
