#include "bench/step_timing.h"

#include <optional>
#include <random>
#include <stdexcept>

#include "nn/device.h"
#include "nn/loss.h"
#include "nn/optim.h"
#include "nn/train.h"

namespace flopslab::bench {

StepTiming time_training_steps(const StepTimingOptions& o) {
  if (o.batch < 1) throw std::invalid_argument("batch must be at least 1, got " + std::to_string(o.batch));
  std::mt19937_64 rng(0);
  auto model = nn::make_model(o.model, rng);
  nn::move_to(*model, o.device);
  auto optimizer = nn::make_optimizer("adam", model->parameters(), 1e-3, 0.0);
  optimizer->set_threads(o.threads);
  nn::Tensor x({o.batch, 1, 28, 28});
  std::uniform_real_distribution<float> pixel(0, 1);
  for (std::int64_t i = 0; i < x.size(); ++i) x[i] = pixel(rng);
  std::vector<std::int64_t> labels(std::size_t(o.batch));
  for (auto& y : labels) y = std::int64_t(rng() % 10);
  std::mt19937_64 dropout_rng(1);
  nn::Context ctx{.training = true, .threads = o.threads, .rng = &dropout_rng, .input_gradient = false};
  ctx.gpu_backend = o.backend;

  StepTiming out;
  std::optional<nn::PinnedUploader> uploader;  // as the trainer copies its batches
  if (o.device == nn::DeviceTag::cuda) uploader.emplace();
  auto upload = [&] { return uploader ? uploader->upload(x) : x; };
  auto step = [&] {
    const nn::Tensor logits = model->forward(upload(), ctx);
    const nn::LossResult loss = nn::cross_entropy(logits, labels);
    model->backward(loss.grad, ctx);
    optimizer->step();
    if (out.steps++ == 0) out.first_loss = loss.loss;
    out.last_loss = loss.loss;
  };
  step();  // the first step allocates the optimizer's state and warms the caches
  const std::int64_t launches_before = nn::gpu_launches();
  step();
  out.launches_per_step = double(nn::gpu_launches() - launches_before);
  const Timing t = measure(step, o.timing);
  out.step_s = t.median;
  out.spread = t.spread();
  out.samples_per_s = double(o.batch) / t.median;
  if (uploader)
    out.copy_s = measure([&] {
                   (void)upload();
                   nn::cuda_synchronize();  // the copy itself, not just its queueing
                 }, o.timing).median;
  return out;
}

}  // namespace flopslab::bench
