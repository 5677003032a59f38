// Optimizers with PyTorch's update rules, so a step here and a step there agree. Parameters
// come in groups, each with its own learning rate, weight decay and momentum (fine-tuning
// gives the pretrained body a smaller rate than the new head; a schedule sets them before
// every step). State is kept per parameter, as PyTorch's is: a parameter that joins later
// (unfrozen) starts its own step count.
#pragma once

#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "nn/module.h"

namespace flopslab::nn {

struct ParamGroup {
  std::vector<Parameter*> params;
  double lr = 1e-3;
  double weight_decay = 0;
  // SGD's momentum, Adam's beta1, RMSprop's momentum; NaN: the optimizer's own default.
  double momentum = std::nan("");
};

class Optimizer {
 public:
  explicit Optimizer(std::vector<ParamGroup> groups) : groups_(std::move(groups)) {}
  virtual ~Optimizer() = default;
  // Updates every parameter of every group that is not frozen.
  virtual void step() = 0;
  virtual std::string describe() const = 0;
  // "sgd", "nesterov", "adam", "adamw", "rmsprop": what make_optimizer was asked for.
  virtual std::string kind() const = 0;
  // The momentum (or beta1) a group without its own uses.
  virtual double default_momentum() const = 0;
  std::vector<ParamGroup>& groups() { return groups_; }

  long steps() const { return steps_; }  // calls of step()
  void set_steps(long steps) { steps_ = steps; }
  // Threads for the update loops (each parameter's elements are independent).
  void set_threads(int threads) { threads_ = threads; }

  // The state a resumed run needs: every per-parameter tensor of the groups' parameters,
  // named "<parameter>.<i>" (created now if no step ran yet), and each parameter's own step
  // count.
  std::vector<std::pair<std::string, Tensor*>> state_tensors();
  std::map<std::string, long> parameter_steps() const;
  void set_parameter_steps(const std::map<std::string, long>& steps);
  // Takes over the state of the parameters `from` holds too: the same optimizer over a new
  // grouping of the parameters (one unfrozen, a multiplier changed) keeps its moments.
  void adopt_state(Optimizer& from);

 protected:
  struct State {
    long steps = 0;
    std::vector<Tensor> tensors;
  };
  virtual int tensors_per_parameter() const = 0;
  State& state(Parameter* p);
  // One step over every trainable parameter, in group order: the step counts advanced and
  // update(group, parameter, state) called for each. It updates a CPU parameter itself and
  // returns the slot of a CUDA one (else nullopt); the slots come back for one batched launch.
  template <class Update>
  auto step_each(Update&& update);
  double momentum_of(const ParamGroup& g) const { return std::isnan(g.momentum) ? default_momentum() : g.momentum; }
  std::vector<ParamGroup> groups_;
  std::map<const Parameter*, State> state_;
  long steps_ = 0;
  int threads_ = 1;
};

// g = grad + wd*p; buf = momentum*buf + g (buf starts at zero: PyTorch's first buf = g);
// g = nesterov ? g + momentum*buf : buf; p -= lr*g.
class Sgd : public Optimizer {
 public:
  Sgd(std::vector<ParamGroup> groups, double momentum = 0, bool nesterov = false)
      : Optimizer(std::move(groups)), momentum_(momentum), nesterov_(nesterov) {}
  void step() override;
  std::string describe() const override;
  std::string kind() const override { return nesterov_ ? "nesterov" : "sgd"; }
  double default_momentum() const override { return momentum_; }

 private:
  int tensors_per_parameter() const override { return 1; }
  double momentum_;
  bool nesterov_;
};

// Adam (L2 weight decay added to the gradient) or AdamW (decoupled: p *= 1 - lr*wd first).
// A group's momentum is its beta1.
class Adam : public Optimizer {
 public:
  Adam(std::vector<ParamGroup> groups, bool decoupled_weight_decay = false, double beta1 = 0.9, double beta2 = 0.999,
       double eps = 1e-8)
      : Optimizer(std::move(groups)), decoupled_(decoupled_weight_decay), beta1_(beta1), beta2_(beta2), eps_(eps) {}
  void step() override;
  std::string describe() const override { return decoupled_ ? "AdamW" : "Adam"; }
  std::string kind() const override { return decoupled_ ? "adamw" : "adam"; }
  double default_momentum() const override { return beta1_; }

 private:
  int tensors_per_parameter() const override { return 2; }
  bool decoupled_;
  double beta1_, beta2_, eps_;
};

// sq = alpha*sq + (1 - alpha)*g^2; with momentum m: buf = m*buf + g/(sqrt(sq) + eps),
// p -= lr*buf; without: p -= lr*g / (sqrt(sq) + eps).
class RmsProp : public Optimizer {
 public:
  RmsProp(std::vector<ParamGroup> groups, double alpha = 0.99, double eps = 1e-8, double momentum = 0)
      : Optimizer(std::move(groups)), alpha_(alpha), eps_(eps), momentum_(momentum) {}
  void step() override;
  std::string describe() const override { return "RMSprop"; }
  std::string kind() const override { return "rmsprop"; }
  double default_momentum() const override { return momentum_; }

 private:
  int tensors_per_parameter() const override { return 2; }
  double alpha_, eps_, momentum_;
};

// "sgd" (momentum 0.9), "nesterov", "adam", "adamw", "rmsprop"; throws std::invalid_argument
// naming the valid ones otherwise.
const std::vector<std::string>& optimizer_names();
std::unique_ptr<Optimizer> make_optimizer(const std::string& name, std::vector<ParamGroup> groups);
std::unique_ptr<Optimizer> make_optimizer(const std::string& name, std::vector<Parameter*> params, double lr,
                                          double weight_decay);

}  // namespace flopslab::nn
