// The training loop (nn/train.h): a recipe's phases over the data, each step read as
//   next batch -> forward and loss -> backward (with the all-reduce) -> accumulate -> update,
// with the data source, the accumulation and the update as named helpers below. The model zoo
// is nn/models.cpp, evaluation nn/evaluate.cpp, and a run's saved position nn/resume.cpp.
#include "nn/train.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <stdexcept>

#include "nn/cuda/ops.h"
#include "nn/device.h"
#include "nn/device_data.h"
#include "nn/distributed.h"
#include "nn/graph.h"
#include "nn/loss.h"
#include "nn/memory.h"
#include "nn/parts.h"

namespace flopslab::nn {
namespace {

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// What the options alone rule out, before the model or the plan is looked at.
void check_options(const TrainOptions& o, const Recipe& recipe) {
  if (o.batch < 1) throw std::invalid_argument("batch size must be at least 1, got " + std::to_string(o.batch));
  if (o.accumulate < 1) throw std::invalid_argument("--accumulate: must be at least 1, got " + std::to_string(o.accumulate));
  if (o.comm != nullptr && o.comm->world() > 1) {
    auto refuse = [](const std::string& what) { throw std::invalid_argument(what + " is not data-parallel yet; train on one rank"); };
    // GPU ranks average their gradients on the GPU, through NCCL (the reducer's device path).
    if (o.device == DeviceTag::cuda && o.device_comm == nullptr)
      throw std::invalid_argument("--distributed --device cuda: the GPU ranks need NCCL's collectives, and none were "
                                  "given (bench::run_training starts them)");
    if (o.accumulate > 1) refuse("--accumulate");
    if (o.loss_scaling) refuse("loss scaling");
  }
  if (o.device != DeviceTag::cuda && (o.graph || o.data_on_device))
    throw std::invalid_argument(std::string(o.graph ? "--graph" : "--data-on-gpu") + " needs --device cuda");
  if (o.device == DeviceTag::cuda) {
    auto refuse = [](std::string what) {
      what += " is not on the GPU yet; train it with --device cpu";
      throw std::invalid_argument(what);
    };
    if (o.graph && o.profile)
      throw std::invalid_argument("--graph and --profile exclude each other: a graph replays the step as one launch, "
                                  "with no per-layer times");
    if (o.precision == Precision::fp16) refuse("fp16 (bf16 is: --precision bf16)");
    if (o.accumulate > 1) refuse("--accumulate");
    if (o.graph && o.loss_scaling) refuse("loss scaling inside a CUDA graph");
    if (o.mse_loss) refuse("the MSE loss");
    for (const Phase& p : recipe.phases)
      if (p.augment.value_or(o.transforms).mixup_alpha > 0) refuse("mixup");
  }
}

// The loss's gradient times the accumulation and loss-scale factor, on its device.
void scale_loss_gradient(Tensor& grad, float factor) {
  if (grad.on_cuda()) return gpu::scale(grad.data(), grad.size(), factor);
  for (std::int64_t i = 0; i < grad.size(); ++i) grad[i] *= factor;
}

// Where an epoch's batches come from: the prefetcher's workers, or the resident images gathered
// on the GPU (--data-on-gpu). A GPU run copies each prefetched batch through pinned memory,
// the next batch's copy started before the current batch's kernels are launched. Counts the
// time the training thread waits.
class EpochBatches {
 public:
  EpochBatches(DataLoader& loader, const TrainOptions& o, DeviceDataset* resident, int epoch, std::int64_t batches)
      : loader_(loader), resident_(resident), epoch_(epoch), batches_(batches) {
    if (resident_ == nullptr) prefetcher_.emplace(loader, o.workers);
    if (o.device == DeviceTag::cuda && resident_ == nullptr) uploader_.emplace();
  }
  Batch next() {
    Batch b = ahead_ ? std::move(*ahead_) : fetch();
    ahead_.reset();
    if (uploader_) b.x = uploader_->take();
    if (uploader_ && fetched_ < batches_) ahead_ = fetch();  // crosses while this batch computes
    return b;
  }
  double data_seconds() const { return data_seconds_; }

 private:
  Batch fetch() {
    const std::int64_t index = fetched_++;
    const auto waited = std::chrono::steady_clock::now();
    Batch b = resident_ != nullptr ? resident_->gather(loader_.plan(index)) : prefetcher_->next();
    if (resident_ == nullptr)
      if (const std::int64_t bad = b.first_non_finite; bad >= 0)
        throw std::runtime_error("sample " + std::to_string(bad / (b.x.size() / b.x.dim(0))) + " of batch " +
                                 std::to_string(index + 1) + " in epoch " + std::to_string(epoch_ + 1) +
                                 " has a non-finite input value; training stopped (check the data)");
    if (uploader_) uploader_->start(b.x);
    data_seconds_ += seconds_since(waited);
    return b;
  }

  DataLoader& loader_;
  DeviceDataset* resident_;
  int epoch_;
  std::int64_t batches_, fetched_ = 0;
  std::optional<BatchPrefetcher> prefetcher_;
  std::optional<PinnedUploader> uploader_;
  std::optional<Batch> ahead_;
  double data_seconds_ = 0;
};

// Gradient accumulation: the sum of a step's micro-batches' gradients, handed to the
// parameters before the update (the loss was already divided by their number).
class GradientSums {
 public:
  GradientSums(const std::vector<Parameter*>& params, int micro_batches) : params_(params) {
    if (micro_batches > 1)
      for (Parameter* p : params_) sums_.emplace_back(p->grad.shape());
  }
  void add(int micro) {
    if (sums_.empty()) return;
    for (std::size_t i = 0; i < params_.size(); ++i) {
      if (params_[i]->frozen) continue;
      float* sum = sums_[i].data();
      const float* g = params_[i]->grad.data();
      for (std::int64_t e = 0; e < sums_[i].size(); ++e) sum[e] = micro == 0 ? g[e] : sum[e] + g[e];
    }
  }
  void hand_over() {
    if (sums_.empty()) return;
    for (std::size_t i = 0; i < params_.size(); ++i)
      if (!params_[i]->frozen) std::copy_n(sums_[i].data(), sums_[i].size(), params_[i]->grad.data());
  }

 private:
  const std::vector<Parameter*>& params_;
  std::vector<Tensor> sums_;
};

}  // namespace

// An epoch's running figures: the mean loss and accuracy over the samples seen so far.
struct Trainer::EpochTally {
  double loss_sum = 0;
  std::int64_t correct = 0, seen = 0, skipped = 0, peak = 0, steps = 0, last_step_launches = 0;
  double hook_seconds = 0, wait_seconds = 0;  // the all-reduce's, summed over the steps
  void add(const Batch& b, const Tensor& logits, double loss) {
    const std::vector<std::int64_t> predicted = argmax_rows(logits);
    for (std::size_t i = 0; i < predicted.size(); ++i) correct += predicted[i] == b.y[i];
    seen += std::int64_t(b.y.size());
    loss_sum += loss * double(b.y.size());
  }
};

Trainer::Trainer(Sequential& model, Recipe recipe, const Dataset& train_data, TrainOptions options)
    : model_(model), recipe_(std::move(recipe)), train_(train_data), o_(std::move(options)) {
  check_options(o_, recipe_);
  const int world = o_.comm != nullptr ? o_.comm->world() : 1;
  // A rank's shard: the epoch padded to a multiple of the world, split evenly.
  const std::int64_t shard = (train_.size() + world - 1) / world;
  const std::int64_t batches = shard / o_.batch;
  if (batches == 0)
    throw std::invalid_argument("batch size " + std::to_string(o_.batch) + " is larger than the " +
                                std::to_string(shard) + " training samples" +
                                (world > 1 ? " of this rank's shard" : std::string()));
  steps_per_epoch_ = batches / o_.accumulate;
  if (steps_per_epoch_ == 0)
    throw std::invalid_argument("--accumulate: " + std::to_string(o_.accumulate) + " batches of " +
                                std::to_string(o_.batch) + " are more than the " + std::to_string(train_.size()) +
                                " training samples");
  spans_ = plan_phases(recipe_, steps_per_epoch_);
  total_steps_ = spans_.back().begin + spans_.back().steps;
  model_.set_checkpoint_segments(o_.checkpoint_segments);
  // Check what only the model and the plan can tell now, before anything runs or is written.
  for (std::size_t k = 0; k < recipe_.phases.size(); ++k) {
    const Phase& p = recipe_.phases[k];
    const std::string where = "recipe " + recipe_.source + ": " + p.label(k) + ": ";
    try {
      for (const auto& [part, m] : p.lr_mult.value_or(o_.lr_mult)) resolve_part(model_, part);
      for (const std::string& part : p.freeze.value_or(o_.freeze)) resolve_part(model_, part);
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(where + e.what());
    }
    if (p.schedule) try {
        const long length = p.schedule_per_epoch ? long((spans_[k].steps + steps_per_epoch_ - 1) / steps_per_epoch_)
                                                 : long(spans_[k].steps);
        make_scheduler(*p.schedule, {p.lr_start}, length);
      } catch (const std::invalid_argument& e) {
        throw std::invalid_argument(where + "schedule: " + e.what());
      }
  }
  if (o_.loss_scaling) scaler_.emplace(*o_.loss_scaling);
  if (o_.device == DeviceTag::cuda) {
    if (o_.graph)
      if (const std::string why = GraphedStep::cannot_capture(model_); !why.empty()) throw std::invalid_argument(why);
    move_to(model_, DeviceTag::cuda);  // throws, naming the layer, for a model that cannot
  }
}

Trainer::~Trainer() = default;

int Trainer::epochs() const { return int((total_steps_ + steps_per_epoch_ - 1) / steps_per_epoch_); }

int Trainer::completed_epochs() const { return step_ >= total_steps_ ? epochs() : int(step_ / steps_per_epoch_); }

std::size_t Trainer::phase_at(std::int64_t step) const {
  std::size_t k = 0;
  while (k + 1 < spans_.size() && step >= spans_[k + 1].begin) ++k;
  return k;
}

Transforms Trainer::transforms_at(std::int64_t step) const {
  Transforms t = o_.transforms;
  if (const auto& augment = recipe_.phases[phase_at(std::min(step, total_steps_ - 1))].augment) {
    const float mean = t.mean, stddev = t.stddev;
    t = *augment;
    t.mean = mean, t.stddev = stddev;
  }
  return t;
}

void Trainer::enter_phase(std::size_t k) {
  const Phase& p = recipe_.phases[k];
  freeze_parts(model_, p.freeze.value_or(o_.freeze));
  std::vector<MultipliedGroup> groups = multiplier_groups(model_, p.lr_mult.value_or(o_.lr_mult));
  if (groups.empty()) throw std::invalid_argument("recipe " + recipe_.source + ": " + p.label(k) + ": every layer is frozen");
  std::vector<ParamGroup> param_groups;
  multipliers_.clear();
  for (MultipliedGroup& g : groups) {
    g.group.weight_decay = p.weight_decay;
    param_groups.push_back(g.group);
    multipliers_.push_back(g.multiplier);
  }
  auto next = make_optimizer(p.optimizer, std::move(param_groups));
  if (optimizer_ && optimizer_->kind() == next->kind()) next->adopt_state(*optimizer_);
  next->set_threads(o_.threads);
  optimizer_ = std::move(next);
  scheduler_.reset();
  if (p.schedule) {
    std::vector<double> base;
    for (double m : multipliers_) base.push_back(p.lr_start * m);
    const long length = p.schedule_per_epoch ? long((spans_[k].steps + steps_per_epoch_ - 1) / steps_per_epoch_)
                                             : long(spans_[k].steps);
    scheduler_ = make_scheduler(*p.schedule, base, length);
  }
  phase_ = k;
  entered_ = true;
}

void Trainer::set_hyperparameters() {
  const Phase& p = recipe_.phases[phase_];
  const std::int64_t i = step_ - spans_[phase_].begin, n = spans_[phase_].steps;
  std::vector<ParamGroup>& groups = optimizer_->groups();
  for (std::size_t g = 0; g < groups.size(); ++g) {
    groups[g].lr = scheduler_ ? scheduler_->lr(g) : phase_lr(p, i, n) * multipliers_[g];
    std::optional<double> momentum = scheduler_ ? scheduler_->momentum(g) : std::nullopt;
    if (!momentum) momentum = phase_momentum(p, i, n);
    groups[g].momentum = momentum ? *momentum : std::nan("");
    groups[g].weight_decay = p.weight_decay;
  }
}

std::vector<EpochInfo> Trainer::run(const Dataset& test_data) {
  std::vector<EpochInfo> history;
  if (!entered_) enter_phase(phase_at(step_));
  DataLoader loader(train_, o_.batch, true, true, o_.seed, o_.transforms);
  Communicator* comm = o_.comm != nullptr && o_.comm->world() > 1 ? o_.comm : nullptr;
  std::optional<GradientReducer> reducer;
  std::function<void(Module&)> gradients_ready;
  if (comm != nullptr) {
    loader.set_shard(comm->rank(), comm->world());
    broadcast_model(*comm, model_, o_.device_comm);  // DDP's start: rank 0's weights and buffers everywhere
    reducer.emplace(*comm, model_.parameters(), o_.buckets, o_.overlap, o_.device_comm);
    gradients_ready = [&reducer](Module& layer) { reducer->ready(layer); };
  }
  std::int64_t epoch_first_step = 0;  // read by the workers; set before each epoch's prefetcher starts
  loader.set_batch_transforms(
      [this, &epoch_first_step](std::int64_t batch) { return transforms_at(epoch_first_step + batch / o_.accumulate); });
  const std::vector<Parameter*> params = model_.parameters();
  GradientSums sums(params, o_.accumulate);
  std::optional<DeviceDataset> resident;  // --data-on-gpu: the images stay on the GPU
  if (o_.data_on_device) resident.emplace(train_);
  std::optional<GraphedStep> graphed;  // --graph: forward, loss and backward as one CUDA graph
  if (o_.graph) graphed.emplace(model_);
  const std::int64_t first_step = step_;

  for (int epoch = int(step_ / steps_per_epoch_); step_ < total_steps_; ++epoch) {
    // Every random choice of an epoch follows from (seed, epoch), so a resumed run repeats it.
    std::mt19937_64 rng(o_.seed * 7919 + std::uint64_t(epoch));
    Context ctx{.training = true, .threads = o_.threads, .rng = &rng, .input_gradient = false,
                .precision = o_.precision, .profile = o_.profile ? &times_ : nullptr, .gpu_backend = o_.gpu_backend};
    if (reducer) ctx.after_layer_backward = &gradients_ready;
    loader.start_epoch(epoch);
    epoch_first_step = std::int64_t(epoch) * steps_per_epoch_;
    const std::int64_t steps = std::min(steps_per_epoch_, total_steps_ - epoch_first_step);
    EpochBatches batches(loader, o_, resident ? &*resident : nullptr, epoch, steps * o_.accumulate);
    const auto started = std::chrono::steady_clock::now();
    EpochTally tally;
    bool stopped = false;
    for (std::int64_t s = 0; s < steps; ++s) {
      const auto [lr0, momentum0] = begin_step();
      const std::int64_t live_before = memory::usage(o_.device).live, launches_before = gpu_launches();
      memory::reset_peak(o_.device);
      double step_loss = 0;
      for (int micro = 0; micro < o_.accumulate; ++micro) {
        const Batch b = batches.next();
        Tensor logits;
        LossResult loss = forward_and_loss(b, ctx, graphed ? &*graphed : nullptr, logits);
        if (!std::isfinite(loss.loss))
          throw std::runtime_error("the loss became " + std::to_string(loss.loss) + " at epoch " +
                                   std::to_string(epoch + 1) + ", step " + std::to_string(s + 1) +
                                   "; training stopped (try a smaller --lr)");
        if (!graphed) backward(loss, ctx, reducer ? &*reducer : nullptr, tally);  // the graph replayed it already
        sums.add(micro);
        tally.add(b, logits, loss.loss);
        step_loss += loss.loss / o_.accumulate;
      }
      sums.hand_over();
      const double scale = scaler_ ? scaler_->scale() : 1.0;
      const bool overflow = update(params);
      tally.skipped += overflow;
      // The run's first step also creates the optimizer's state and fills the prefetch queue,
      // which stay: it is left out of the activations' peak unless it is the only step.
      if (step_ > first_step || total_steps_ - first_step == 1)
        tally.peak = std::max(tally.peak, memory::usage(o_.device).peak - live_before);
      tally.last_step_launches = gpu_launches() - launches_before;
      ++step_, ++tally.steps;
      if (o_.profile) ++times_.steps;
      const double elapsed = seconds_since(started);
      const StepInfo info{.epoch = epoch, .step = s, .steps = steps, .global_step = step_ - 1, .phase = phase_,
                          .loss = tally.loss_sum / double(tally.seen),
                          .accuracy = double(tally.correct) / double(tally.seen), .step_loss = step_loss,
                          .samples_per_s = double(tally.seen) / elapsed, .lr = lr0, .momentum = momentum0,
                          .loss_scale = scale, .skipped = overflow, .data_seconds = batches.data_seconds(),
                          .compute_seconds = elapsed - batches.data_seconds()};
      if (o_.on_step) o_.on_step(info);
      if (o_.stop_after && o_.stop_after(info)) {
        stopped = true;
        break;
      }
    }
    history.push_back(finish_epoch(epoch, tally, seconds_since(started), batches.data_seconds(), comm, test_data));
    if (stopped || (o_.on_epoch && !o_.on_epoch(history.back()))) break;
  }
  return history;
}

std::pair<double, double> Trainer::begin_step() {
  if (phase_at(step_) != phase_) enter_phase(phase_at(step_));
  set_hyperparameters();
  const ParamGroup& first = optimizer_->groups().front();
  const double momentum = std::isnan(first.momentum) ? optimizer_->default_momentum() : first.momentum;
  curve_.emplace_back(first.lr, momentum);
  return {first.lr, momentum};
}

LossResult Trainer::forward_and_loss(const Batch& b, const Context& ctx, GraphedStep* graphed, Tensor& logits) {
  if (graphed != nullptr) {  // forward, loss and backward: one replay (the first step runs them eagerly)
    GraphedStep::Result r = graphed->run(b.x, b.y, ctx);
    logits = std::move(r.logits);
    LossResult loss;
    loss.loss = r.loss;
    return loss;
  }
  logits = model_.forward(b.x, ctx);
  // Mixup's batches carry mixed labels; accuracy counts each sample's own label.
  return o_.mse_loss                ? mse(logits, one_hot(b.y, logits.dim(1)))
         : b.soft_targets.empty() ? cross_entropy(logits, b.y)
                                  : soft_cross_entropy(logits, b.soft_targets);
}

void Trainer::backward(LossResult& loss, const Context& ctx, GradientReducer* reducer, EpochTally& tally) {
  // The mean over accumulate * batch samples, scaled for the loss scaler.
  const float factor = float((scaler_ ? scaler_->scale() : 1.0) / o_.accumulate);
  if (factor != 1.0f) scale_loss_gradient(loss.grad, factor);
  if (reducer != nullptr) reducer->begin_backward();
  model_.backward(loss.grad, ctx);
  if (reducer != nullptr) {  // the mean gradient over the ranks
    reducer->finish();
    tally.hook_seconds += reducer->last_hook_seconds(), tally.wait_seconds += reducer->last_finish_seconds();
  }
}

bool Trainer::update(const std::vector<Parameter*>& params) {
  const bool overflow = scaler_ && !scaler_->unscale(params, o_.threads);
  if (!overflow) optimizer_->step();
  if (scaler_) scaler_->update(overflow);
  if (scheduler_ && !recipe_.phases[phase_].schedule_per_epoch) scheduler_->step();
  return overflow;
}

EpochInfo Trainer::finish_epoch(int epoch, EpochTally& tally, double seconds, double data_seconds, Communicator* comm,
                                const Dataset& test_data) {
  if (comm != nullptr) {  // the epoch's figures over every rank's samples
    double totals[3] = {tally.loss_sum, double(tally.correct), double(tally.seen)};
    comm->allreduce_sum(totals, 3);
    tally.loss_sum = totals[0], tally.correct = std::int64_t(totals[1]), tally.seen = std::int64_t(totals[2]);
  }
  EpochInfo info{.epoch = epoch, .train_loss = tally.loss_sum / double(tally.seen),
                 .train_accuracy = double(tally.correct) / double(tally.seen)};
  info.seconds = seconds;
  info.samples_per_s = double(tally.seen) / info.seconds;
  if (tally.steps > 0)
    info.allreduce_hook_seconds = tally.hook_seconds / double(tally.steps),
    info.allreduce_wait_seconds = tally.wait_seconds / double(tally.steps);
  info.data_seconds = data_seconds;
  info.compute_seconds = info.seconds - data_seconds;
  info.steps = tally.steps;
  info.skipped_steps = tally.skipped;
  info.peak_activation_bytes = tally.peak;
  info.launches_per_step = tally.last_step_launches;
  if (test_data.size() > 0) info.test = evaluate(model_, test_data, 256, o_.threads, o_.transforms, o_.precision);
  // An epoch-interval schedule moves on at the end of each epoch of its phase.
  if (scheduler_ && recipe_.phases[phase_].schedule_per_epoch && step_ < total_steps_ && phase_at(step_) == phase_)
    scheduler_->step(info.test.loss);
  return info;
}

std::vector<EpochInfo> train(Sequential& model, const std::string& optimizer, double lr, int epochs,
                             const Dataset& train_data, const Dataset& test_data, const TrainOptions& options) {
  Trainer trainer(model, constant_recipe(optimizer, lr, epochs, 0), train_data, options);
  return trainer.run(test_data);
}

}  // namespace flopslab::nn
