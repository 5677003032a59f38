// Training recipes: fast.ai's TrainPhase API (seed 003). A recipe is a list of phases, each
// with its length in epochs (fractions allowed), its optimizer, its learning rate (a constant,
// a start..end range annealed linearly, by cosine, exponentially or polynomially, or one of
// PyTorch's schedules from nn/schedule.h over the phase), its momentum (constant or range),
// weight decay, data augmentation, per-part learning-rate multipliers and frozen parts.
//
// In JSON (recipes/*.json; every key but "epochs" and "lr" may be left out; "batch" is the
// batch size the recipe was tuned for, used when the command line gives none):
//   {"description": "1cycle", "batch": 64, "phases": [
//     {"name": "up", "epochs": 2.25, "optimizer": "sgd", "lr": [0.004, 0.1], "lr_decay": "linear",
//      "momentum": [0.95, 0.85], "momentum_decay": "linear", "weight_decay": 5e-4,
//      "transforms": {"flip": true, "crop_padding": 2, "jitter": [0.5, 1.5], "mixup": 0.2},
//      "lr_mult": {"body": 0.1, "head": 1}, "freeze": ["body"]},
//     {"epochs": 1, "lr": 0.05, "schedule": {"type": "cosine", "eta_min": 1e-4}, "interval": "step"}]}
// A phase inherits the previous phase's optimizer, weight decay, transforms, lr_mult and
// freeze when it does not give them; momentum left out is the optimizer's default.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "nn/data.h"
#include "nn/schedule.h"

namespace flopslab::nn {

struct Phase {
  std::string name;  // optional label for logs and errors
  double epochs = 1;
  std::string optimizer = "sgd";
  double lr_start = 0, lr_end = 0;  // equal for a constant rate
  Anneal lr_decay = Anneal::none;
  double lr_power = 0.9;  // polynomial decay's exponent (seed 003's p = 0.9)
  std::optional<ScheduleJson> schedule;  // a PyTorch schedule from lr_start over the phase
  bool schedule_per_epoch = false;       // "interval": "epoch" (the plateau's must)
  std::optional<double> momentum_start, momentum_end;
  Anneal momentum_decay = Anneal::none;
  double weight_decay = 0;
  std::optional<Transforms> augment;  // flip, crop, jitter, mixup; none: the run's own
  // Part -> multiplier, and the parts without gradients; none given: the run's own (an empty
  // list given is a list: "freeze": [] unfreezes).
  std::optional<std::vector<std::pair<std::string, double>>> lr_mult;
  std::optional<std::vector<std::string>> freeze;
  std::string label(std::size_t index) const;           // "phase 2 (anneal)"
};

struct Recipe {
  std::string description, source;  // source: the file, or "the command line"
  std::int64_t batch = 0;           // the batch size the recipe was tuned for; 0: none given
  std::vector<Phase> phases;
  std::string fingerprint;  // identifies the recipe in checkpoints
  double epochs() const;
};

// Throws std::invalid_argument "recipe SOURCE: phase 2: lr: ..." naming the phase and field.
Recipe parse_recipe(const ScheduleJson& doc, const std::string& source);
Recipe read_recipe(const std::string& path);
// One phase at a constant rate: what plain --optimizer, --lr and --epochs mean.
Recipe constant_recipe(const std::string& optimizer, double lr, double epochs, double weight_decay);

// The steps of each phase for a given number of optimizer steps per epoch: phase k covers
// [begin, begin + steps). Boundaries are rounded on the running sum of epochs, so the total
// is round(epochs * steps_per_epoch). Throws std::invalid_argument when a phase or the whole
// recipe would have no step.
struct PhaseSpan {
  std::int64_t begin = 0, steps = 0;
};
std::vector<PhaseSpan> plan_phases(const Recipe& recipe, std::int64_t steps_per_epoch);

// The learning rate multiplier and momentum at step i of n in a phase (no PyTorch schedule).
double phase_lr(const Phase& phase, std::int64_t i, std::int64_t n);
std::optional<double> phase_momentum(const Phase& phase, std::int64_t i, std::int64_t n);

}  // namespace flopslab::nn
