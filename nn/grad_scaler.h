// Dynamic loss scaling with PyTorch's GradScaler rules (torch.amp.GradScaler): the loss is
// multiplied by the scale before backward so that small fp16 gradients do not flush to zero;
// the gradients are divided by it again before the step. A gradient that overflowed (inf or
// NaN) skips the step and halves the scale; every `growth_interval` clean steps in a row
// double it.
#pragma once

#include <cstdint>
#include <vector>

#include "nn/module.h"
#include "nn/schedule.h"

namespace flopslab::nn {

class GradScaler {
 public:
  struct Settings {
    double init_scale = 65536, growth_factor = 2, backoff_factor = 0.5;
    long growth_interval = 2000;
  };
  GradScaler() : GradScaler(Settings{}) {}
  explicit GradScaler(Settings s) : s_(s), scale_(s.init_scale) {}
  double scale() const { return scale_; }
  // Divides every trainable gradient by the scale; false when any is inf or NaN (skip the step).
  bool unscale(const std::vector<Parameter*>& params, int threads) const;
  // After each step: backs off on an overflow, grows after growth_interval clean steps.
  void update(bool overflowed);
  long skipped() const { return skipped_; }
  ScheduleJson state() const;
  void load_state(const ScheduleJson& state);

 private:
  Settings s_;
  double scale_;
  long clean_ = 0, skipped_ = 0;
};

}  // namespace flopslab::nn
