// Optimizers with PyTorch's update rules, so a step here and a step there agree. Parameters
// come in groups, each with its own learning rate and weight decay (fine-tuning gives the
// pretrained body a smaller rate than the new head).
#pragma once

#include <string>
#include <vector>

#include "nn/module.h"

namespace flopslab::nn {

struct ParamGroup {
  std::vector<Parameter*> params;
  double lr = 1e-3;
  double weight_decay = 0;
};

class Optimizer {
 public:
  explicit Optimizer(std::vector<ParamGroup> groups) : groups_(std::move(groups)) {}
  virtual ~Optimizer() = default;
  virtual void step() = 0;
  virtual std::string describe() const = 0;
  std::vector<ParamGroup>& groups() { return groups_; }

  // The state a resumed run needs: the step count and every per-parameter tensor, named
  // "<parameter>.<i>" (created now if no step ran yet).
  long steps() const { return steps_; }
  // Threads for the update loops (each parameter's elements are independent).
  void set_threads(int threads) { threads_ = threads; }
  void set_steps(long steps) { steps_ = steps; }
  std::vector<std::pair<std::string, Tensor*>> state_tensors();

 protected:
  std::vector<ParamGroup> groups_;
  // Per-parameter state tensors, created on the first step in group order.
  std::vector<std::vector<Tensor>> state_;
  long steps_ = 0;
  int threads_ = 1;
  std::vector<Tensor>& state(std::size_t flat_index, int tensors);
  virtual int tensors_per_parameter() const = 0;
};

// g = grad + wd*p; buf = momentum*buf + g (buf = g on the first step);
// g = nesterov ? g + momentum*buf : buf; p -= lr*g.
class Sgd : public Optimizer {
 public:
  Sgd(std::vector<ParamGroup> groups, double momentum = 0, bool nesterov = false)
      : Optimizer(std::move(groups)), momentum_(momentum), nesterov_(nesterov) {}
  void step() override;
  std::string describe() const override;

 private:
  int tensors_per_parameter() const override { return momentum_ != 0 ? 1 : 0; }
  double momentum_;
  bool nesterov_;
};

// Adam (L2 weight decay added to the gradient) or AdamW (decoupled: p *= 1 - lr*wd first).
class Adam : public Optimizer {
 public:
  Adam(std::vector<ParamGroup> groups, bool decoupled_weight_decay = false, double beta1 = 0.9, double beta2 = 0.999,
       double eps = 1e-8)
      : Optimizer(std::move(groups)), decoupled_(decoupled_weight_decay), beta1_(beta1), beta2_(beta2), eps_(eps) {}
  void step() override;
  std::string describe() const override { return decoupled_ ? "AdamW" : "Adam"; }

 private:
  int tensors_per_parameter() const override { return 2; }
  bool decoupled_;
  double beta1_, beta2_, eps_;
};

// sq = alpha*sq + (1 - alpha)*g^2; p -= lr*g / (sqrt(sq) + eps).
class RmsProp : public Optimizer {
 public:
  RmsProp(std::vector<ParamGroup> groups, double alpha = 0.99, double eps = 1e-8)
      : Optimizer(std::move(groups)), alpha_(alpha), eps_(eps) {}
  void step() override;
  std::string describe() const override { return "RMSprop"; }

 private:
  int tensors_per_parameter() const override { return 1; }
  double alpha_, eps_;
};

}  // namespace flopslab::nn
