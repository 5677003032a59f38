// Timing training steps of a fresh model on the CPU or the GPU at a given batch size.
#include "bench/training/step_timing.h"

#include <algorithm>
#include <chrono>
#include <optional>
#include <random>
#include <stdexcept>

#include "nn/device.h"
#include "nn/graph.h"
#include "nn/loss.h"
#include "nn/optim.h"
#include "nn/train.h"

namespace flopslab::bench {

struct TrainingStepper::State {
  StepTimingOptions o;
  std::unique_ptr<nn::Sequential> model;
  std::unique_ptr<nn::Optimizer> optimizer;
  nn::Tensor x;
  std::vector<std::int64_t> labels;
  std::mt19937_64 dropout_rng{1};
  nn::Context ctx;
  std::optional<nn::PinnedUploader> uploader;  // as the trainer copies its batches
  std::optional<nn::GraphedStep> graphed;
  nn::LayerTimes times;
  nn::Tensor upload() { return uploader ? uploader->upload(x) : x; }
};

TrainingStepper::TrainingStepper(const StepTimingOptions& o) : s_(std::make_unique<State>()) {
  if (o.batch < 1) throw std::invalid_argument("batch must be at least 1, got " + std::to_string(o.batch));
  State& s = *s_;
  s.o = o;
  std::mt19937_64 rng(0);
  s.model = nn::make_model(o.model, rng);
  nn::move_to(*s.model, o.device);
  s.optimizer = nn::make_optimizer("adam", s.model->parameters(), 1e-3, 0.0);
  s.optimizer->set_threads(o.threads);
  s.x = nn::Tensor({o.batch, 1, 28, 28});
  std::uniform_real_distribution<float> pixel(0, 1);
  for (std::int64_t i = 0; i < s.x.size(); ++i) s.x[i] = pixel(rng);
  s.labels.resize(std::size_t(o.batch));
  for (auto& y : s.labels) y = std::int64_t(rng() % 10);
  s.ctx = nn::Context{.training = true, .threads = o.threads, .rng = &s.dropout_rng, .input_gradient = false};
  s.ctx.gpu_backend = o.backend;
  if (o.device == nn::DeviceTag::cuda) s.uploader.emplace();
  if (o.profile && o.graph) throw std::invalid_argument("profiling times each layer, which a CUDA graph replays as one");
  if (o.profile) s.ctx.profile = &s.times;
  if (o.graph) {
    if (o.device != nn::DeviceTag::cuda) throw std::invalid_argument("a CUDA graph needs the cuda device");
    s.graphed.emplace(*s.model);
  }
}

TrainingStepper::~TrainingStepper() = default;

void TrainingStepper::step() {
  State& s = *s_;
  double loss_value = 0;
  if (s.graphed) {
    loss_value = s.graphed->run(s.upload(), s.labels, s.ctx).loss;
  } else {
    const nn::Tensor logits = s.model->forward(s.upload(), s.ctx);
    const nn::LossResult loss = nn::cross_entropy(logits, s.labels);
    const auto started = std::chrono::steady_clock::now();
    s.model->backward(loss.grad, s.ctx);
    if (s.o.device == nn::DeviceTag::cpu)
      backward_seconds_.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    loss_value = loss.loss;
  }
  const auto update_started = std::chrono::steady_clock::now();
  s.optimizer->step();
  if (s.o.device == nn::DeviceTag::cpu)
    update_seconds_.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - update_started).count());
  if (s.ctx.profile != nullptr) ++s.times.steps;
  if (steps_++ == 0) first_loss_ = loss_value;
  last_loss_ = loss_value;
}

void TrainingStepper::upload_only() {
  (void)s_->upload();
  if (s_->uploader) nn::cuda_synchronize();  // the copy itself, not just its queueing
}

const nn::LayerTimes& TrainingStepper::layer_times() const { return s_->times; }

void TrainingStepper::reset_layer_times() {
  nn::LayerTimes& t = s_->times;
  for (auto* v : {&t.forward, &t.backward, &t.recompute}) std::fill(v->begin(), v->end(), 0.0);
  t.steps = 0;
}

std::vector<nn::LayerCost> TrainingStepper::layer_costs() { return s_->model->layer_costs(s_->times, s_->ctx.input_gradient); }

double TrainingStepper::parameter_count() {
  double n = 0;
  for (const nn::Parameter* p : s_->model->parameters()) n += double(p->value.size());
  return n;
}

StepTiming time_training_steps(const StepTimingOptions& o) {
  TrainingStepper stepper(o);
  StepTiming out;
  stepper.step();  // the first step allocates the optimizer's state and warms the caches
  if (o.graph) stepper.step();  // and the second captures the graph
  const std::int64_t launches_before = nn::gpu_launches();
  stepper.step();
  out.launches_per_step = double(nn::gpu_launches() - launches_before);
  const std::size_t warm = stepper.backward_seconds().size();
  stepper.reset_layer_times();
  const Timing t = measure([&] { stepper.step(); }, o.timing);
  if (o.profile) {
    out.layers = stepper.layer_times();
    out.layer_costs = stepper.layer_costs();
    out.parameters = stepper.parameter_count();
  }
  // The medians of the timed steps only (the warm-up's are the first `warm`).
  auto timed_median = [&](const std::vector<double>& seconds) {
    return seconds.size() > warm
               ? summarize({seconds.begin() + std::ptrdiff_t(warm), seconds.end()}, 1, true).median
               : 0.0;
  };
  out.backward_s = timed_median(stepper.backward_seconds());
  out.update_s = timed_median(stepper.update_seconds());
  out.step_s = t.median;
  out.spread = t.spread();
  out.samples_per_s = double(o.batch) / t.median;
  out.best_samples_per_s = double(o.batch) / t.min;
  if (o.device == nn::DeviceTag::cuda) out.copy_s = measure([&] { stepper.upload_only(); }, o.timing).median;
  out.first_loss = stepper.first_loss();
  out.last_loss = stepper.last_loss();
  out.steps = stepper.steps();
  return out;
}

}  // namespace flopslab::bench
