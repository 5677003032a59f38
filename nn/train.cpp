#include "nn/train.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <sstream>
#include <stdexcept>

#include "nn/checkpoint.h"
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
// The loss's gradient times the accumulation and loss-scale factor, on its device.
void scale_loss_gradient(Tensor& grad, float factor) {
  if (grad.on_cuda()) return gpu::scale(grad.data(), grad.size(), factor);
  for (std::int64_t i = 0; i < grad.size(); ++i) grad[i] *= factor;
}
}  // namespace
namespace {

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// Everything about a phase that shapes the curve, except its length.
std::string phase_signature(const Phase& p) {
  std::ostringstream s;
  s.precision(17);
  s << p.optimizer << '|' << p.lr_start << '|' << p.lr_end << '|' << anneal_name(p.lr_decay) << '|' << p.lr_power << '|'
    << (p.schedule ? p.schedule->dump() : "-") << '|' << p.schedule_per_epoch << '|'
    << (p.momentum_start ? std::to_string(*p.momentum_start) + ".." + std::to_string(*p.momentum_end) : "-") << '|'
    << anneal_name(p.momentum_decay) << '|' << p.weight_decay << '|';
  if (p.augment)
    s << p.augment->flip << ',' << p.augment->crop_padding << ',' << p.augment->jitter_low << ','
      << p.augment->jitter_high << ',' << p.augment->mixup_alpha;
  s << '|';
  if (p.lr_mult)
    for (const auto& [part, m] : *p.lr_mult) s << part << '=' << m << ',';
  s << '|';
  if (p.freeze)
    for (const std::string& part : *p.freeze) s << part << ',';
  return s.str();
}

bool constant_rate(const Phase& p) {
  return p.lr_decay == Anneal::none && !p.schedule && (!p.momentum_start || *p.momentum_start == *p.momentum_end);
}

}  // namespace

namespace {

// A stem, one Inception block (Szegedy et al. 2015, with the 1x7/7x1 pair of v3), a residual
// block (He et al. 2016) and a global-average-pooled head: every pattern lesson 18 fuses.
//   1x28x28 -> conv 3x3 24 + BN + ReLU -> max pool 2              24x14x14
//   Inception: 1x1 16 | 1x1 16, 3x3 24 | 1x1 8, 1x7 8, 7x1 16 | max pool 3x3 s1, 1x1 8
//              (each conv + BN + ReLU), concatenated               64x14x14
//   max pool 2                                                    64x7x7
//   x + (conv 3x3 64 + BN + ReLU, conv 3x3 64 + BN), ReLU          64x7x7
//   global average pool, Linear 64 -> classes
void add_inception_model(Sequential& m, std::mt19937_64& rng, std::int64_t classes) {
  const auto cbr = [&](Sequential& seq, std::int64_t c, std::int64_t k, std::int64_t r, std::int64_t s, bool relu = true) {
    seq.add(std::make_unique<Conv2d>(conv::Shape{.c = c, .k = k, .r = r, .s = s, .pad_h = r / 2, .pad_w = s / 2}, rng));
    seq.add(std::make_unique<BatchNorm>(k));
    if (relu) seq.add(std::make_unique<Activation>(ActivationKind::relu));
  };
  cbr(m, 1, 24, 3, 3);
  m.add(std::make_unique<Pool2d>(PoolKind::max, 2, 2));
  auto block = std::make_unique<Concat>();
  auto b0 = std::make_unique<Sequential>(), b1 = std::make_unique<Sequential>(), b2 = std::make_unique<Sequential>(),
       b3 = std::make_unique<Sequential>();
  cbr(*b0, 24, 16, 1, 1);
  cbr(*b1, 24, 16, 1, 1), cbr(*b1, 16, 24, 3, 3);
  cbr(*b2, 24, 8, 1, 1), cbr(*b2, 8, 8, 1, 7), cbr(*b2, 8, 16, 7, 1);
  b3->add(std::make_unique<Pool2d>(PoolKind::max, 3, 1, 1));
  cbr(*b3, 24, 8, 1, 1);
  block->add(std::move(b0)).add(std::move(b1)).add(std::move(b2)).add(std::move(b3));
  m.add(std::move(block));
  m.add(std::make_unique<Pool2d>(PoolKind::max, 2, 2));
  auto body = std::make_unique<Sequential>();
  cbr(*body, 64, 64, 3, 3), cbr(*body, 64, 64, 3, 3, false);
  m.add(std::make_unique<Residual>(std::move(body)));
  m.add(std::make_unique<Activation>(ActivationKind::relu));
  m.add(std::make_unique<GlobalAvgPool>());
  m.add(std::make_unique<Linear>(64, classes, rng));
}

}  // namespace

const std::vector<std::string>& model_names() {
  static const std::vector<std::string> names = {"mlp", "mlp-dropout", "cnn", "cnn-nobn", "inception"};
  return names;
}

std::string model_names_text() {
  std::string out;
  for (const std::string& name : model_names()) out += (out.empty() ? "" : ", ") + name;
  return out;
}

std::unique_ptr<Sequential> make_model(const std::string& name, std::mt19937_64& rng, std::int64_t classes) {
  auto m = std::make_unique<Sequential>();
  auto relu = [] { return std::make_unique<Activation>(ActivationKind::relu); };
  if (name == "mlp" || name == "mlp-dropout") {
    m->add(std::make_unique<Flatten>());
    const std::int64_t widths[] = {784, 256, 128, 64, classes};
    for (int i = 0; i < 4; ++i) {
      m->add(std::make_unique<Linear>(widths[i], widths[i + 1], rng));
      if (i < 3) m->add(relu());
      if (i < 3 && name == "mlp-dropout") m->add(std::make_unique<Dropout>(0.2f));
    }
  } else if (name == "cnn" || name == "cnn-nobn") {
    std::int64_t channels = 1;
    for (std::int64_t out : {16, 32}) {
      m->add(std::make_unique<Conv2d>(conv::Shape{.c = channels, .k = out, .r = 3, .s = 3, .pad_h = 1, .pad_w = 1}, rng));
      if (name == "cnn") m->add(std::make_unique<BatchNorm>(out));
      m->add(relu());
      m->add(std::make_unique<Pool2d>(PoolKind::max, 2, 2));
      channels = out;
    }
    m->add(std::make_unique<Flatten>());
    m->add(std::make_unique<Linear>(32 * 7 * 7, 128, rng));
    m->add(relu());
    m->add(std::make_unique<Linear>(128, classes, rng));
  } else if (name == "inception") {
    add_inception_model(*m, rng, classes);
  } else {
    throw std::invalid_argument("unknown model '" + name + "' (valid: " + model_names_text() + ")");
  }
  m->parameters();  // names every parameter by its path
  return m;
}

Metrics evaluate(Module& model, const Dataset& data, std::int64_t batch, int threads, const Transforms& transforms,
                 Precision precision) {
  Metrics m;
  const std::int64_t k = data.classes;
  m.confusion.assign(std::size_t(k), std::vector<std::int64_t>(std::size_t(k), 0));
  const Context ctx{.training = false, .threads = threads, .precision = precision};
  // The batches go where the model is (its first parameter says; a model without any stays
  // on the CPU).
  const std::vector<Parameter*> params = model.parameter_list();
  const DeviceTag device = params.empty() ? DeviceTag::cpu : params.front()->value.device();
  DataLoader loader(data, batch, false, false, 0, Transforms{.mean = transforms.mean, .stddev = transforms.stddev});
  double loss = 0;
  std::int64_t correct = 0, top3 = 0;
  for (std::int64_t b = 0; b < loader.batches(); ++b) {
    const Batch batch_data = loader.batch(b);
    const Tensor logits = model.forward(batch_data.x.to(device), ctx);
    loss += cross_entropy(logits, batch_data.y).loss * double(batch_data.y.size());
    const std::vector<std::int64_t> predicted = argmax_rows(logits);
    const auto best3 = topk_rows(logits, 3);
    for (std::size_t i = 0; i < predicted.size(); ++i) {
      const std::int64_t truth = batch_data.y[i];
      correct += predicted[i] == truth;
      for (std::int64_t c : best3[i]) top3 += c == truth;
      ++m.confusion[std::size_t(truth)][std::size_t(predicted[i])];
    }
  }
  model.release_cache();  // an evaluation's activations are not kept for a backward
  const double n = double(data.size());
  m.loss = loss / n;
  m.accuracy = double(correct) / n;
  m.top3 = double(top3) / n;
  for (std::int64_t c = 0; c < k; ++c) {
    std::int64_t predicted_c = 0, actual_c = 0;
    for (std::int64_t o = 0; o < k; ++o) {
      predicted_c += m.confusion[std::size_t(o)][std::size_t(c)];
      actual_c += m.confusion[std::size_t(c)][std::size_t(o)];
    }
    const double hit = double(m.confusion[std::size_t(c)][std::size_t(c)]);
    m.precision.push_back(predicted_c ? hit / double(predicted_c) : 0.0);
    m.recall.push_back(actual_c ? hit / double(actual_c) : 0.0);
  }
  return m;
}

Trainer::Trainer(Sequential& model, Recipe recipe, const Dataset& train_data, TrainOptions options)
    : model_(model), recipe_(std::move(recipe)), train_(train_data), o_(std::move(options)) {
  if (o_.batch < 1) throw std::invalid_argument("batch size must be at least 1, got " + std::to_string(o_.batch));
  if (o_.accumulate < 1) throw std::invalid_argument("--accumulate: must be at least 1, got " + std::to_string(o_.accumulate));
  const int world = o_.comm != nullptr ? o_.comm->world() : 1;
  if (world > 1) {
    auto refuse = [](const std::string& what) { throw std::invalid_argument(what + " is not data-parallel yet; train on one rank"); };
    // GPU ranks average their gradients on the GPU, through NCCL (the reducer's device path).
    if (o_.device == DeviceTag::cuda && o_.device_comm == nullptr)
      throw std::invalid_argument("--distributed --device cuda: the GPU ranks need NCCL's collectives, and none were "
                                  "given (bench::run_training starts them)");
    if (o_.accumulate > 1) refuse("--accumulate");
    if (o_.loss_scaling) refuse("loss scaling");
  }
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
  if (o_.device != DeviceTag::cuda && (o_.graph || o_.data_on_device))
    throw std::invalid_argument(std::string(o_.graph ? "--graph" : "--data-on-gpu") + " needs --device cuda");
  if (o_.device == DeviceTag::cuda) {
    auto refuse = [](std::string what) {
      what += " is not on the GPU yet; train it with --device cpu";
      throw std::invalid_argument(what);
    };
    if (o_.graph && o_.profile) throw std::invalid_argument("--graph and --profile exclude each other: a graph replays the step as one launch, with no per-layer times");
    if (o_.graph)
      if (const std::string why = GraphedStep::cannot_capture(model_); !why.empty()) throw std::invalid_argument(why);
    if (o_.precision == Precision::fp16) refuse("fp16 (bf16 is: --precision bf16)");
    if (o_.accumulate > 1) refuse("--accumulate");
    if (o_.graph && o_.loss_scaling) refuse("loss scaling inside a CUDA graph");
    if (o_.mse_loss) refuse("the MSE loss");
    for (const Phase& p : recipe_.phases)
      if (p.augment.value_or(o_.transforms).mixup_alpha > 0) refuse("mixup");
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
  // Accumulated gradients of the trainable parameters (accumulation only).
  std::vector<Tensor> sums;
  const std::vector<Parameter*> params = model_.parameters();
  if (o_.accumulate > 1)
    for (Parameter* p : params) sums.emplace_back(p->grad.shape());

  std::optional<DeviceDataset> resident;  // --data-on-gpu: the images stay on the GPU
  if (o_.data_on_device) resident.emplace(train_);
  std::optional<GraphedStep> graphed;  // --graph: the step as one CUDA graph
  if (o_.graph) graphed.emplace(model_);
  const std::int64_t first_step = step_;
  for (int epoch = int(step_ / steps_per_epoch_); step_ < total_steps_; ++epoch) {
    // Every random choice of an epoch follows from (seed, epoch), so a resumed run repeats it.
    std::mt19937_64 rng(o_.seed * 7919 + std::uint64_t(epoch));
    Context ctx{.training = true, .threads = o_.threads, .rng = &rng, .input_gradient = false,
                      .precision = o_.precision, .profile = o_.profile ? &times_ : nullptr,
                      .gpu_backend = o_.gpu_backend};
    if (reducer) ctx.after_layer_backward = &gradients_ready;
    loader.start_epoch(epoch);
    epoch_first_step = std::int64_t(epoch) * steps_per_epoch_;
    const std::int64_t steps = std::min(steps_per_epoch_, total_steps_ - epoch_first_step);
    const auto started = std::chrono::steady_clock::now();
    double loss_sum = 0, data_seconds = 0;
    std::int64_t correct = 0, seen = 0, skipped = 0, peak = 0;
    bool stopped = false;
    std::int64_t done = 0;
    // Where each batch comes from: the prefetcher's workers, or gathered on the GPU from the
    // resident images. A GPU run copies a prefetched batch through pinned memory, starting
    // the next batch's copy before the current batch's kernels are launched.
    std::optional<BatchPrefetcher> batches;
    if (!resident) batches.emplace(loader, o_.workers);
    std::optional<PinnedUploader> uploader;
    if (o_.device == DeviceTag::cuda && !resident) uploader.emplace();
    const std::int64_t epoch_batches = steps * o_.accumulate;
    std::int64_t fetched = 0;
    std::optional<Batch> ahead;
    auto fetch = [&]() -> Batch {
      const std::int64_t index = fetched++;
      const auto waited = std::chrono::steady_clock::now();
      Batch b = resident ? resident->gather(loader.plan(index)) : batches->next();
      if (!resident)
        if (const std::int64_t bad = first_non_finite(b.x); bad >= 0)
          throw std::runtime_error("sample " + std::to_string(bad / (b.x.size() / b.x.dim(0))) + " of batch " +
                                   std::to_string(index + 1) + " in epoch " + std::to_string(epoch + 1) +
                                   " has a non-finite input value; training stopped (check the data)");
      if (uploader) uploader->start(b.x);
      data_seconds += seconds_since(waited);
      return b;
    };
    auto next_batch = [&]() -> Batch {
      Batch b = ahead ? std::move(*ahead) : fetch();
      ahead.reset();
      if (uploader) b.x = uploader->take();
      if (uploader && fetched < epoch_batches) ahead = fetch();  // crosses while this batch computes
      return b;
    };
    std::int64_t last_step_launches = 0;
    double hook_seconds = 0, wait_seconds = 0;
    for (std::int64_t s = 0; s < steps; ++s) {
      if (phase_at(step_) != phase_) enter_phase(phase_at(step_));
      set_hyperparameters();
      const double lr0 = optimizer_->groups().front().lr;
      const double momentum0 = std::isnan(optimizer_->groups().front().momentum) ? optimizer_->default_momentum()
                                                                                 : optimizer_->groups().front().momentum;
      curve_.emplace_back(lr0, momentum0);
      const std::int64_t live_before = memory::usage(o_.device).live;
      const std::int64_t launches_before = gpu_launches();
      memory::reset_peak(o_.device);
      double step_loss = 0;
      for (int micro = 0; micro < o_.accumulate; ++micro) {
        const Batch b = next_batch();
        Tensor logits;
        LossResult loss;
        if (graphed) {  // forward, loss and backward: one replay (the first step runs them eagerly)
          GraphedStep::Result r = graphed->run(b.x, b.y, ctx);
          logits = std::move(r.logits), loss.loss = r.loss;
        } else {
          logits = model_.forward(b.x, ctx);
          // Mixup's batches carry mixed labels; accuracy counts each sample's own label.
          loss = o_.mse_loss                ? mse(logits, one_hot(b.y, logits.dim(1)))
                 : b.soft_targets.empty() ? cross_entropy(logits, b.y)
                                          : soft_cross_entropy(logits, b.soft_targets);
        }
        if (!std::isfinite(loss.loss))
          throw std::runtime_error("the loss became " + std::to_string(loss.loss) + " at epoch " +
                                   std::to_string(epoch + 1) + ", step " + std::to_string(s + 1) +
                                   "; training stopped (try a smaller --lr)");
        if (!graphed) {
          // The mean over accumulate * batch samples, scaled for the loss scaler.
          const float factor = float((scaler_ ? scaler_->scale() : 1.0) / o_.accumulate);
          if (factor != 1.0f) scale_loss_gradient(loss.grad, factor);
          if (reducer) reducer->begin_backward();
          model_.backward(loss.grad, ctx);
          if (reducer) {  // the mean gradient over the ranks
            reducer->finish();
            hook_seconds += reducer->last_hook_seconds(), wait_seconds += reducer->last_finish_seconds();
          }
        }
        if (o_.accumulate > 1)
          for (std::size_t i = 0; i < params.size(); ++i) {
            if (params[i]->frozen) continue;
            float* sum = sums[i].data();
            const float* g = params[i]->grad.data();
            for (std::int64_t e = 0; e < sums[i].size(); ++e) sum[e] = micro == 0 ? g[e] : sum[e] + g[e];
          }
        const std::vector<std::int64_t> predicted = argmax_rows(logits);
        for (std::size_t i = 0; i < predicted.size(); ++i) correct += predicted[i] == b.y[i];
        seen += std::int64_t(b.y.size());
        loss_sum += loss.loss * double(b.y.size());
        step_loss += loss.loss / o_.accumulate;
      }
      if (o_.accumulate > 1)
        for (std::size_t i = 0; i < params.size(); ++i)
          if (!params[i]->frozen) std::copy_n(sums[i].data(), sums[i].size(), params[i]->grad.data());
      const bool overflow = scaler_ && !scaler_->unscale(params, o_.threads);
      if (!overflow) optimizer_->step();
      const double scale = scaler_ ? scaler_->scale() : 1.0;
      if (scaler_) scaler_->update(overflow);
      skipped += overflow;
      if (scheduler_ && !recipe_.phases[phase_].schedule_per_epoch) scheduler_->step();
      // The run's first step also creates the optimizer's state and fills the prefetch queue,
      // which stay: it is left out of the activations' peak unless it is the only step.
      if (step_ > first_step || total_steps_ - first_step == 1) peak = std::max(peak, memory::usage(o_.device).peak - live_before);
      last_step_launches = gpu_launches() - launches_before;
      ++step_, ++done;
      if (o_.profile) ++times_.steps;
      const double elapsed = seconds_since(started);
      const StepInfo info{.epoch = epoch, .step = s, .steps = steps, .global_step = step_ - 1, .phase = phase_,
                          .loss = loss_sum / double(seen), .accuracy = double(correct) / double(seen),
                          .step_loss = step_loss, .samples_per_s = double(seen) / elapsed, .lr = lr0,
                          .momentum = momentum0, .loss_scale = scale, .skipped = overflow,
                          .data_seconds = data_seconds, .compute_seconds = elapsed - data_seconds};
      if (o_.on_step) o_.on_step(info);
      if (o_.stop_after && o_.stop_after(info)) {
        stopped = true;
        break;
      }
    }
    const double epoch_seconds = seconds_since(started);
    if (comm != nullptr) {  // the epoch's figures over every rank's samples
      double totals[3] = {loss_sum, double(correct), double(seen)};
      comm->allreduce_sum(totals, 3);
      loss_sum = totals[0], correct = std::int64_t(totals[1]), seen = std::int64_t(totals[2]);
    }
    EpochInfo info{.epoch = epoch, .train_loss = loss_sum / double(seen), .train_accuracy = double(correct) / double(seen)};
    info.seconds = epoch_seconds;
    info.samples_per_s = double(seen) / info.seconds;
    if (done > 0) info.allreduce_hook_seconds = hook_seconds / double(done), info.allreduce_wait_seconds = wait_seconds / double(done);
    info.data_seconds = data_seconds;
    info.compute_seconds = info.seconds - data_seconds;
    info.steps = done;
    info.skipped_steps = skipped;
    info.peak_activation_bytes = peak;
    info.launches_per_step = last_step_launches;
    if (test_data.size() > 0) info.test = evaluate(model_, test_data, 256, o_.threads, o_.transforms, o_.precision);
    // An epoch-interval schedule moves on at the end of each epoch of its phase.
    if (scheduler_ && recipe_.phases[phase_].schedule_per_epoch && step_ < total_steps_ && phase_at(step_) == phase_)
      scheduler_->step(info.test.loss);
    history.push_back(info);
    if (stopped || (o_.on_epoch && !o_.on_epoch(info))) break;
  }
  return history;
}

ScheduleJson Trainer::state() const {
  ScheduleJson phases = ScheduleJson::array();
  for (std::size_t k = 0; k < spans_.size() && spans_[k].begin < step_; ++k)
    phases.push_back({{"signature", phase_signature(recipe_.phases[k])},
                      {"begin", spans_[k].begin},
                      {"steps", spans_[k].steps}});
  return {{"recipe", recipe_.source},
          {"step", step_},
          {"batch", o_.batch},
          {"accumulate", o_.accumulate},
          {"steps_per_epoch", steps_per_epoch_},
          {"world", o_.comm != nullptr ? o_.comm->world() : 1},
          {"phase", phase_},
          {"phases", phases},
          {"parameter_steps", optimizer_ ? ScheduleJson(optimizer_->parameter_steps()) : ScheduleJson::object()},
          {"scheduler", scheduler_ ? scheduler_->state() : ScheduleJson(nullptr)},
          {"scaler", scaler_ ? scaler_->state() : ScheduleJson(nullptr)}};
}

std::string Trainer::checkpoint(const std::string& model_name) const {
  if (!optimizer_) throw std::logic_error("checkpoint before the first step");
  return serialize_checkpoint(model_, *optimizer_, {model_name, completed_epochs(), state().dump()});
}

void Trainer::restore(const std::string& bytes, const std::string& what, const std::string& model_name) {
  const CheckpointInfo info = read_checkpoint_info(bytes, what);
  ScheduleJson s;
  try {
    s = ScheduleJson::parse(info.state);
  } catch (const ScheduleJson::parse_error&) {
    throw std::runtime_error(what + ": its training state is not valid JSON (the file is damaged)");
  }
  auto mismatch = [&](const std::string& field, const std::string& message) {
    throw std::invalid_argument("--resume: " + what + ": " + field + ": " + message);
  };
  for (const char* key : {"step", "batch", "accumulate", "steps_per_epoch", "phase", "phases"})
    if (!s.contains(key)) throw std::runtime_error(what + ": its training state has no '" + std::string(key) + "'");
  if (s["batch"].get<std::int64_t>() != o_.batch)
    mismatch("--batch", "the checkpoint was trained with batch " + s["batch"].dump() + ", this run asks for " +
                            std::to_string(o_.batch));
  if (s["accumulate"].get<int>() != o_.accumulate)
    mismatch("--accumulate", "the checkpoint accumulated " + s["accumulate"].dump() + " batches per step, this run " +
                                 std::to_string(o_.accumulate));
  // Written by N ranks, resumed on M: the completed epochs carry over (a step is another
  // number of samples there), for a recipe whose rate does not depend on the step.
  const int saved_world = s.value("world", 1), world = o_.comm != nullptr ? o_.comm->world() : 1;
  const bool rescaled = saved_world != world;
  std::int64_t step = s["step"].get<std::int64_t>();
  if (rescaled) {
    if (recipe_.phases.size() != 1 || recipe_.phases[0].schedule || !constant_rate(recipe_.phases[0]))
      mismatch("--distributed", "the checkpoint was written by " + std::to_string(saved_world) + " rank(s) and this run has " +
                                    std::to_string(world) + "; only a one-phase constant-rate recipe resumes on another number of ranks");
    step = step / std::max<std::int64_t>(s["steps_per_epoch"].get<std::int64_t>(), 1) * steps_per_epoch_;
  } else if (s["steps_per_epoch"].get<std::int64_t>() != steps_per_epoch_)
    mismatch("--train-limit", "the checkpoint had " + s["steps_per_epoch"].dump() + " steps per epoch, this run has " +
                                  std::to_string(steps_per_epoch_) + " (another training set?)");
  // The curve up to the checkpoint must be the one the checkpoint followed: every phase that
  // began before it the same.
  for (std::size_t k = 0; k < s["phases"].size(); ++k) {
    const ScheduleJson& saved = s["phases"][k];
    const std::string label = k < recipe_.phases.size() ? recipe_.phases[k].label(k) : "phase " + std::to_string(k + 1);
    if (k >= recipe_.phases.size() || saved["signature"] != phase_signature(recipe_.phases[k]) ||
        (!rescaled && saved["begin"].get<std::int64_t>() != spans_[k].begin))
      mismatch("recipe", label + " differs from the recipe " + s.value("recipe", std::string("?")) +
                             " the checkpoint followed; resume with that recipe, or start a new --out");
    // Only the phase the checkpoint stopped in (or at the end of) may change length, and only
    // if its rate is constant: then the steps already taken saw the same rates.
    const bool last = k + 1 == s["phases"].size();
    if (!rescaled && saved["steps"].get<std::int64_t>() != spans_[k].steps && (!last || !constant_rate(recipe_.phases[k])))
      mismatch("recipe", label + " has " + std::to_string(spans_[k].steps) + " steps here and had " +
                             saved["steps"].dump() + " when the checkpoint was written: its curve would change");
  }
  if (step >= total_steps_)
    mismatch("--epochs", "the checkpoint has finished all " + std::to_string(epochs()) +
                             " epochs of its recipe; ask for more epochs (or a longer recipe)");
  step_ = step;
  enter_phase(phase_at(step_));
  if (s["phase"].get<std::size_t>() != phase_)
    mismatch("recipe", "the checkpoint stopped in phase " + std::to_string(s["phase"].get<std::size_t>() + 1) +
                           ", this recipe would be in phase " + std::to_string(phase_ + 1));
  restore_checkpoint(bytes, what, model_name, model_, *optimizer_);
  if (s.contains("parameter_steps") && s["parameter_steps"].is_object())
    optimizer_->set_parameter_steps(s["parameter_steps"].get<std::map<std::string, long>>());
  if (scheduler_) {
    if (!s.contains("scheduler") || s["scheduler"].is_null()) mismatch("recipe", "the checkpoint has no schedule state");
    scheduler_->load_state(s["scheduler"]);
  }
  if (scaler_ && s.contains("scaler") && !s["scaler"].is_null()) scaler_->load_state(s["scaler"]);
}

std::int64_t estimate_training_bytes(Sequential& model, std::int64_t batch, const std::vector<std::int64_t>& sample) {
  std::int64_t params = 0;
  for (Parameter* p : model.parameters()) params += p->value.size();
  std::vector<std::int64_t> shape{2};
  shape.insert(shape.end(), sample.begin(), sample.end());
  const Tensor x(shape, 0.5f);
  std::mt19937_64 rng(0);
  const Context ctx{.training = true, .rng = &rng, .input_gradient = false, .update_statistics = false};
  const std::int64_t live = memory::usage().live;
  memory::reset_peak();
  const Tensor logits = model.forward(x, ctx);
  const LossResult loss = cross_entropy(logits, std::vector<std::int64_t>(2, 0));
  (void)model.backward(loss.grad, ctx);
  const std::int64_t per_sample = std::max<std::int64_t>(memory::usage().peak - live, 0) / 2;
  return 4 * params * std::int64_t(sizeof(float)) + per_sample * batch;
}

std::vector<EpochInfo> train(Sequential& model, const std::string& optimizer, double lr, int epochs,
                             const Dataset& train_data, const Dataset& test_data, const TrainOptions& options) {
  Trainer trainer(model, constant_recipe(optimizer, lr, epochs, 0), train_data, options);
  return trainer.run(test_data);
}

}  // namespace flopslab::nn
