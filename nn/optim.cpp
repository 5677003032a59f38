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
#pragma omp parallel for num_threads(threads_) if (p->value.size() > (1 << 14))
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

// In float, as PyTorch's: step = lr / (1 - b1^t), denominator = sqrt(v) / sqrt(1 - b2^t) + eps.
void Adam::step() {
  ++steps_;
  const float b1 = float(beta1_), b2 = float(beta2_), eps = float(eps_);
  const float inv_sqrt_c2 = float(1 / std::sqrt(1 - std::pow(beta2_, double(steps_))));
  std::size_t index = 0;
  for (ParamGroup& group : groups_)
    for (Parameter* p : group.params) {
      std::vector<Tensor>& s = state(index++, 2);
      const float step = float(group.lr / (1 - std::pow(beta1_, double(steps_))));
      const float decay = float(group.weight_decay), shrink = float(1 - group.lr * group.weight_decay);
      float* __restrict value = p->value.data();
      const float* __restrict grad = p->grad.data();
      float* __restrict m = s[0].data();
      float* __restrict v = s[1].data();
      const std::int64_t n = p->value.size();
      const bool decoupled = decoupled_;
#pragma omp parallel for num_threads(threads_) if (n > (1 << 14)) schedule(static)
      for (std::int64_t i = 0; i < n; ++i) {
        float w = value[i], g = grad[i];
        if (decoupled)
          w *= shrink;
        else
          g += decay * w;
        m[i] = b1 * m[i] + (1 - b1) * g;
        v[i] = b2 * v[i] + (1 - b2) * g * g;
        value[i] = w - step * m[i] / (std::sqrt(v[i]) * inv_sqrt_c2 + eps);
      }
    }
}

void RmsProp::step() {
  ++steps_;
  std::size_t index = 0;
  for (ParamGroup& group : groups_)
    for (Parameter* p : group.params) {
      std::vector<Tensor>& s = state(index++, 1);
#pragma omp parallel for num_threads(threads_) if (p->value.size() > (1 << 14))
      for (std::int64_t i = 0; i < p->value.size(); ++i) {
        const double g = double(p->grad[i]) + group.weight_decay * p->value[i];
        const double sq = alpha_ * s[0][i] + (1 - alpha_) * g * g;
        s[0][i] = float(sq);
        p->value[i] = float(p->value[i] - group.lr * g / (std::sqrt(sq) + eps_));
      }
    }
}

}  // namespace flopslab::nn
