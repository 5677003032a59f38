// The learning-rate range test (Smith 2015, "Cyclical Learning Rates"; fast.ai's lr_find): a
// few hundred steps with the rate growing exponentially from tiny to huge, the loss smoothed
// and watched, stopping when it diverges (fast.ai's stop_div: the smoothed loss above 4x the
// best so far). Three suggestions: fast.ai's current default, the "valley" (the longest run
// over which the smoothed loss keeps falling, a point a half of the way into it), the rate
// where the smoothed loss falls fastest against log(lr), and fast.ai's older rule, the rate
// of the lowest loss divided by 10. The model is trained on a copy of its state and left
// exactly as it was.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "nn/train.h"

namespace flopslab::nn {

struct LrFindOptions {
  std::string optimizer = "sgd";
  double start_lr = 1e-7, end_lr = 10;
  int steps = 200;
  double smoothing = 0.98;  // exponential moving average of the loss, bias-corrected
  double divergence = 4;    // stop when the smoothed loss exceeds this times the best
  std::int64_t batch = 64;
  int threads = 1;
  std::uint64_t seed = 0;
  Transforms normalise;
};

struct LrFindResult {
  std::vector<double> lrs, losses, smoothed;  // one per step taken
  bool diverged = false;
  double valley_lr = 0;    // fast.ai's valley: the suggestion
  double steepest_lr = 0;  // steepest descent of the smoothed loss
  double min_loss_lr = 0;  // lowest smoothed loss
  double min_loss_over_10() const { return min_loss_lr / 10; }
};

// Throws std::invalid_argument for impossible options, and when the loss diverges at the
// first step (the range starts too high to say anything).
LrFindResult find_lr(Sequential& model, const Dataset& train, const LrFindOptions& options);

}  // namespace flopslab::nn
