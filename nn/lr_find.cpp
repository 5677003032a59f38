// The learning-rate range test: an exponential sweep, the smoothed loss, and the suggested rate.
#include "nn/lr_find.h"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <stdexcept>

namespace flopslab::nn {
LrFindResult find_lr(Sequential& model, const Dataset& train, const LrFindOptions& o) {
  if (!(o.start_lr > 0) || !(o.end_lr > o.start_lr))
    throw std::invalid_argument("lr-find: needs 0 < --start-lr < --end-lr, got " + format_number(o.start_lr) + " and " +
                                format_number(o.end_lr));
  if (o.steps < 10) throw std::invalid_argument("lr-find: --steps must be at least 10, got " + std::to_string(o.steps));
  if (o.batch > train.size())
    throw std::invalid_argument("lr-find: --batch " + std::to_string(o.batch) + " is more than the " +
                                std::to_string(train.size()) + " training samples");
  // The model's state, restored at the end: parameters, buffers, frozen flags.
  std::vector<Parameter*> params = model.parameters();
  std::vector<Buffer> buffers = model.buffers();
  std::vector<Tensor> saved;
  std::vector<bool> frozen;
  for (Parameter* p : params) saved.push_back(p->value.clone()), frozen.push_back(p->frozen);
  for (const Buffer& b : buffers) saved.push_back(b.value->clone());

  const std::int64_t per_epoch = train.size() / o.batch;
  // One exponential phase of exactly o.steps steps (it may span several epochs).
  ScheduleJson doc = {{"description", "LR range test"},
                      {"phases", {{{"epochs", double(o.steps) / double(per_epoch)},
                                   {"optimizer", o.optimizer},
                                   {"lr", {o.start_lr, o.end_lr}},
                                   {"lr_decay", "exponential"}}}}};
  LrFindResult r;
  double average = 0, best = INFINITY;
  TrainOptions t{.batch = o.batch, .threads = o.threads, .seed = o.seed, .transforms = o.normalise, .workers = 1};
  t.stop_after = [&](const StepInfo& s) {
    average = o.smoothing * average + (1 - o.smoothing) * s.step_loss;
    const double smooth = average / (1 - std::pow(o.smoothing, double(r.lrs.size() + 1)));
    r.lrs.push_back(s.lr);
    r.losses.push_back(s.step_loss);
    r.smoothed.push_back(smooth);
    best = std::min(best, smooth);
    if (r.lrs.size() > 1 && (smooth > o.divergence * best || !std::isfinite(smooth))) r.diverged = true;
    return r.diverged;
  };
  std::string failure;
  try {
    Trainer trainer(model, parse_recipe(doc, "lr-find"), train, t);
    trainer.run(Dataset{});
  } catch (const std::runtime_error& e) {  // a non-finite loss: diverged beyond measuring
    r.diverged = true;
    failure = e.what();
  }
  for (std::size_t i = 0; i < params.size(); ++i) {
    params[i]->value = saved[i];
    params[i]->frozen = frozen[i];
  }
  for (std::size_t i = 0; i < buffers.size(); ++i) *buffers[i].value = saved[params.size() + i];
  model.release_cache();

  if (r.diverged && r.lrs.size() <= 2)
    throw std::invalid_argument("lr-find: the loss diverged at the first step (lr " +
                                format_number(r.lrs.empty() ? o.start_lr : r.lrs.back()) +
                                "); start lower with --start-lr" + (failure.empty() ? "" : " (" + failure + ")"));
  // The steepest fall of the smoothed loss against log(lr), away from the noisy first steps and
  // the divergence at the end.
  const std::size_t n = r.lrs.size(), skip_start = std::min<std::size_t>(10, n / 10), skip_end = std::min<std::size_t>(5, n / 10);
  double steepest = INFINITY;
  for (std::size_t i = skip_start + 1; i + skip_end < n; ++i) {
    const double slope = (r.smoothed[i] - r.smoothed[i - 1]) / (std::log(r.lrs[i]) - std::log(r.lrs[i - 1]));
    if (slope < steepest) steepest = slope, r.steepest_lr = r.lrs[i];
  }
  // fast.ai's valley: the longest decreasing subsequence of the smoothed loss, and the rate a
  // third plus a sixth of the way along it.
  std::vector<std::size_t> run(n, 1);
  std::size_t best_start = 0, best_end = 0;
  for (std::size_t i = 1; i < n; ++i)
    for (std::size_t j = 0; j < i; ++j) {
      if (r.smoothed[i] < r.smoothed[j] && run[i] < run[j] + 1) run[i] = run[j] + 1;
      if (run[best_end] < run[i]) best_end = i, best_start = best_end - run[best_end];
    }
  const double third = double(best_end - best_start) / 3;
  r.valley_lr = r.lrs[std::min(n - 1, best_start + std::size_t(third) + std::size_t(third / 2))];
  const std::size_t lowest = std::size_t(std::min_element(r.smoothed.begin(), r.smoothed.end()) - r.smoothed.begin());
  r.min_loss_lr = r.lrs[lowest];
  if (r.steepest_lr == 0) r.steepest_lr = r.min_loss_over_10();
  return r;
}

}  // namespace flopslab::nn
