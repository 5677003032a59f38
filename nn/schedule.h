// Learning-rate schedules with PyTorch's rules (torch/optim/lr_scheduler.py), so that the
// sequence a schedule gives here is the sequence PyTorch's gives for the same settings.
//
// A schedule has a position t (PyTorch's last_epoch): 0 after construction, one more after
// each step(). The caller steps it once per optimizer step or once per epoch, as PyTorch's
// users do; the value at position t is the learning rate of the t-th step (or epoch). Each
// parameter group has its own base learning rate (discriminative learning rates scale it).
//
//   constant                      lr = base
//   step (StepLR)                 lr = base * gamma^floor(t / step_size)
//   multistep (MultiStepLR)       lr = base * gamma^(milestones passed)
//   exponential (ExponentialLR)   lr = base * gamma^t
//   cosine (CosineAnnealingLR)    lr = eta_min + (base - eta_min) (1 + cos(pi t / T_max)) / 2
//   polynomial (PolynomialLR)     lr = base * (1 - min(t, total_iters) / total_iters)^power
//   plateau (ReduceLROnPlateau)   lr *= factor after more than `patience` epochs without improvement
//   warm-restarts (CosineAnnealingWarmRestarts, SGDR) cosine over T_i, T_i = T_0 * T_mult^cycle
//   onecycle (OneCycleLR)         up from max_lr/div_factor to max_lr over pct_start, then down
//                                 to that / final_div_factor; momentum (or Adam's beta1) the
//                                 other way between max_momentum and base_momentum
//
// Any of them may be preceded by a warm-up of `iters` positions (SequentialLR semantics):
// linear (LinearLR from start_factor to 1) or exponential (factor start_factor^(1 - t/iters)).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace flopslab::nn {

using ScheduleJson = nlohmann::ordered_json;

// fast.ai's annealing shapes between start and end at fraction pct of the way (seed 003):
// linear, cosine, exponential start*(end/start)^pct, polynomial end + (start-end)(1-pct)^power.
enum class Anneal { none, linear, cosine, exponential, polynomial };
double anneal(Anneal kind, double start, double end, double pct, double power = 0.9);
// "none", "linear", "cosine", "exponential", "polynomial"; nullopt for another name.
std::optional<Anneal> anneal_from_name(const std::string& name);
const char* anneal_name(Anneal kind);

class LrScheduler {
 public:
  virtual ~LrScheduler() = default;
  virtual std::string describe() const = 0;
  // Advances one position. ReduceLROnPlateau reads the metric (NaN elsewhere is fine).
  virtual void step(double metric);
  void step() { step(std::nan("")); }
  long position() const { return position_; }
  std::size_t groups() const { return base_lrs_.size(); }
  // The learning rate of each group at the current position.
  virtual double lr(std::size_t group) const = 0;
  // The momentum (SGD) or beta1 (Adam) this schedule sets, or nullopt when it leaves it alone.
  virtual std::optional<double> momentum(std::size_t group) const { (void)group; return std::nullopt; }
  virtual bool needs_metric() const { return false; }
  // What a checkpoint keeps to continue the same curve, and its inverse (which throws
  // std::runtime_error naming the field that does not fit).
  virtual ScheduleJson state() const;
  virtual void load_state(const ScheduleJson& state);

 protected:
  explicit LrScheduler(std::vector<double> base_lrs) : base_lrs_(std::move(base_lrs)) {}
  std::vector<double> base_lrs_;
  long position_ = 0;
};

// Builds a schedule from its JSON description, for example
//   {"type": "step", "step_size": 30, "gamma": 0.1}
//   {"type": "onecycle", "max_lr": 0.1, "pct_start": 0.25, "anneal": "linear"}
//   {"type": "cosine", "t_max": 100, "warmup": {"type": "linear", "iters": 5, "start_factor": 0.1}}
// with PyTorch's parameter names in snake case and PyTorch's defaults. `length` is the number
// of positions it will be stepped through (OneCycleLR's total_steps and the default T_max and
// total_iters when they are not given). base_momenta are the groups' momenta before the
// schedule (OneCycleLR replaces them). Throws std::invalid_argument naming the field ("t_max:
// must be at least 1, got 0"; "unknown key 'gama'").
std::unique_ptr<LrScheduler> make_scheduler(const ScheduleJson& spec, std::vector<double> base_lrs, long length);

// A number as messages print it: %g, "0.001", "1e-07".
std::string format_number(double v);


}  // namespace flopslab::nn
