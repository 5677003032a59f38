#include "nn/optim.h"

#include <cmath>

namespace flopslab::nn {

std::vector<Tensor>& Optimizer::state(std::size_t index, int tensors) {
  if (state_.size() <= index) state_.resize(index + 1);
  std::vector<Tensor>& s = state_[index];
  if (s.empty()) {
    std::size_t flat = 0;
    for (ParamGroup& g : groups_)
      for (Parameter* p : g.params)
        if (flat++ == index)
          for (int i = 0; i < tensors; ++i) s.emplace_back(p->value.shape());
  }
  return s;
}

std::vector<std::pair<std::string, Tensor*>> Optimizer::state_tensors() {
  std::vector<std::pair<std::string, Tensor*>> out;
  std::size_t index = 0;
  for (ParamGroup& group : groups_)
    for (Parameter* p : group.params) {
      std::vector<Tensor>& s = state(index++, tensors_per_parameter());
      for (std::size_t i = 0; i < s.size(); ++i) out.emplace_back(p->name + "." + std::to_string(i), &s[i]);
    }
  return out;
}

void Sgd::step() {
  ++steps_;
  std::size_t index = 0;
  for (ParamGroup& group : groups_)
    for (Parameter* p : group.params) {
      std::vector<Tensor>& s = state(index++, momentum_ != 0 ? 1 : 0);
      for (std::int64_t i = 0; i < p->value.size(); ++i) {
        double g = double(p->grad[i]) + group.weight_decay * p->value[i];
        if (momentum_ != 0) {
          const double buf = steps_ == 1 ? g : momentum_ * s[0][i] + g;
          s[0][i] = float(buf);
          g = nesterov_ ? g + momentum_ * buf : buf;
        }
        p->value[i] = float(p->value[i] - group.lr * g);
      }
    }
}

std::string Sgd::describe() const {
  return momentum_ == 0 ? "SGD" : std::string("SGD, momentum ") + std::to_string(momentum_).substr(0, 4) +
                                      (nesterov_ ? ", Nesterov" : "");
}

void Adam::step() {
  ++steps_;
  const double correction1 = 1 - std::pow(beta1_, double(steps_)), correction2 = 1 - std::pow(beta2_, double(steps_));
  std::size_t index = 0;
  for (ParamGroup& group : groups_)
    for (Parameter* p : group.params) {
      std::vector<Tensor>& s = state(index++, 2);
      for (std::int64_t i = 0; i < p->value.size(); ++i) {
        double value = p->value[i], g = p->grad[i];
        if (decoupled_)
          value *= 1 - group.lr * group.weight_decay;
        else
          g += group.weight_decay * value;
        const double m = beta1_ * s[0][i] + (1 - beta1_) * g, v = beta2_ * s[1][i] + (1 - beta2_) * g * g;
        s[0][i] = float(m);
        s[1][i] = float(v);
        value -= group.lr * (m / correction1) / (std::sqrt(v / correction2) + eps_);
        p->value[i] = float(value);
      }
    }
}

void RmsProp::step() {
  ++steps_;
  std::size_t index = 0;
  for (ParamGroup& group : groups_)
    for (Parameter* p : group.params) {
      std::vector<Tensor>& s = state(index++, 1);
      for (std::int64_t i = 0; i < p->value.size(); ++i) {
        const double g = double(p->grad[i]) + group.weight_decay * p->value[i];
        const double sq = alpha_ * s[0][i] + (1 - alpha_) * g * g;
        s[0][i] = float(sq);
        p->value[i] = float(p->value[i] - group.lr * g / (std::sqrt(sq) + eps_));
      }
    }
}

}  // namespace flopslab::nn
