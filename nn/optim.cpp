// SGD (with momentum and Nesterov), Adam(W) and RMSprop steps on the CPU, PyTorch's update rules.
#include "nn/optim.h"

#include <optional>

#include <cmath>
#include <stdexcept>

#include "kernels/cpu/multiversion.h"
#include "nn/cuda/ops.h"
#include "nn/device.h"

namespace flopslab::nn {

Optimizer::State& Optimizer::state(Parameter* p) {
  State& s = state_[p];
  if (s.tensors.empty())  // zeros, where the parameter lives
    for (int i = 0; i < tensors_per_parameter(); ++i) s.tensors.push_back(Tensor::zeros_on(p->value.device(), p->value.shape()));
  return s;
}

std::vector<std::pair<std::string, Tensor*>> Optimizer::state_tensors() {
  std::vector<std::pair<std::string, Tensor*>> out;
  for (ParamGroup& group : groups_)
    for (Parameter* p : group.params) {
      State& s = state(p);
      for (std::size_t i = 0; i < s.tensors.size(); ++i) out.emplace_back(p->name + "." + std::to_string(i), &s.tensors[i]);
    }
  return out;
}

std::map<std::string, long> Optimizer::parameter_steps() const {
  std::map<std::string, long> out;
  for (const ParamGroup& group : groups_)
    for (const Parameter* p : group.params) {
      auto it = state_.find(p);
      out[p->name] = it == state_.end() ? 0 : it->second.steps;
    }
  return out;
}

void Optimizer::set_parameter_steps(const std::map<std::string, long>& steps) {
  for (ParamGroup& group : groups_)
    for (Parameter* p : group.params)
      if (auto it = steps.find(p->name); it != steps.end()) state(p).steps = it->second;
}

void Optimizer::adopt_state(Optimizer& from) {
  for (auto& [p, s] : from.state_) {
    bool mine = false;
    for (const ParamGroup& g : groups_)
      for (const Parameter* q : g.params) mine = mine || q == p;
    if (mine && int(s.tensors.size()) == tensors_per_parameter()) state_[p] = s;
  }
  steps_ = from.steps_;
}

template <class Update>
auto Optimizer::step_each(Update&& update) {
  ++steps_;
  std::vector<gpu::UpdateSlot> on_gpu;
  for (ParamGroup& group : groups_)
    for (Parameter* p : group.params) {
      if (p->frozen) continue;
      State& s = state(p);
      ++s.steps;
      if (const std::optional<gpu::UpdateSlot> slot = update(group, *p, s)) on_gpu.push_back(*slot);
    }
  return on_gpu;
}

void Sgd::step() {
  const auto on_gpu = step_each([&](const ParamGroup& group, Parameter& p, State& s) -> std::optional<gpu::UpdateSlot> {
    const double momentum = momentum_of(group);
    float* buf = s.tensors[0].data();
    const std::int64_t n = p.value.size();
    if (p.value.on_cuda())
      return gpu::UpdateSlot{p.value.data(), p.grad.data(), buf, nullptr, n,
                             {float(group.lr), float(group.weight_decay), float(momentum), 0, 0}};
#pragma omp parallel for num_threads(threads_) if (n > (1 << 14))
    for (std::int64_t i = 0; i < n; ++i) {
      double g = double(p.grad[i]) + group.weight_decay * p.value[i];
      if (momentum != 0) {
        const double b = momentum * buf[i] + g;
        buf[i] = float(b);
        g = nesterov_ ? g + momentum * b : b;
      }
      p.value[i] = float(p.value[i] - group.lr * g);
    }
    return std::nullopt;
  });
  if (!on_gpu.empty()) gpu::sgd_update(on_gpu, nesterov_);
}

std::string Sgd::describe() const {
  return momentum_ == 0 ? "SGD" : std::string("SGD, momentum ") + std::to_string(momentum_).substr(0, 4) +
                                      (nesterov_ ? ", Nesterov" : "");
}

// In float, as PyTorch's: step = lr / (1 - b1^t), denominator = sqrt(v) / sqrt(1 - b2^t) + eps,
// t the parameter's own step count.
namespace {
struct AdamConstants {
  float b1, b2, eps, inv_sqrt_c2, step, decay, shrink;
  bool decoupled;
};
// One chunk of the update, compiled for AVX-512 and AVX2 as well (the square root and the
// division are most of its time, 16 or 8 at a time there instead of 4).
FLOPSLAB_MULTIVERSION(void, adam_update,
                      (const AdamConstants& k, float* __restrict value, const float* __restrict grad,
                       float* __restrict m, float* __restrict v, std::int64_t n),
                      (k, value, grad, m, v, n)) {
  for (std::int64_t i = 0; i < n; ++i) {
    float w = value[i], g = grad[i];
    if (k.decoupled)
      w *= k.shrink;
    else
      g += k.decay * w;
    m[i] = k.b1 * m[i] + (1 - k.b1) * g;
    v[i] = k.b2 * v[i] + (1 - k.b2) * g * g;
    value[i] = w - k.step * m[i] / (std::sqrt(v[i]) * k.inv_sqrt_c2 + k.eps);
  }
}
}  // namespace

void Adam::step() {
  const float b2 = float(beta2_), eps = float(eps_);
  const auto on_gpu = step_each([&](const ParamGroup& group, Parameter& p, State& s) -> std::optional<gpu::UpdateSlot> {
    const double beta1 = momentum_of(group), t = double(s.steps);
    const float b1 = float(beta1);
    const float inv_sqrt_c2 = float(1 / std::sqrt(1 - std::pow(beta2_, t)));
    const float step = float(group.lr / (1 - std::pow(beta1, t)));
    const float decay = float(group.weight_decay), shrink = float(1 - group.lr * group.weight_decay);
    float* __restrict value = p.value.data();
    const float* __restrict grad = p.grad.data();
    float* __restrict m = s.tensors[0].data();
    float* __restrict v = s.tensors[1].data();
    const std::int64_t n = p.value.size();
    if (p.value.on_cuda()) return gpu::UpdateSlot{value, grad, m, v, n, {b1, step, inv_sqrt_c2, decay, shrink}};
    const AdamConstants k{b1, b2, eps, inv_sqrt_c2, step, decay, shrink, decoupled_};
    // Threads only past 16 Ki parameters, each taking one equal share: fixed chunks of 16 Ki
    // split the MLP's 784 x 256 weight 7 : 6 between two threads.
    constexpr std::int64_t kSerialUpTo = 1 << 14;
    const std::int64_t shares = n > kSerialUpTo ? std::max(threads_, 1) : 1;
    const std::int64_t chunk = std::max<std::int64_t>((n + shares * 16 - 1) / (shares * 16) * 16, 1);
#pragma omp parallel for num_threads(threads_) if (n > kSerialUpTo) schedule(static)
    for (std::int64_t i0 = 0; i0 < n; i0 += chunk)
      adam_update(k, value + i0, grad + i0, m + i0, v + i0, std::min(chunk, n - i0));
    return std::nullopt;
  });
  if (!on_gpu.empty()) gpu::adam_update(on_gpu, b2, eps, decoupled_);
}

void RmsProp::step() {
  const auto on_gpu = step_each([&](const ParamGroup& group, Parameter& p, State& s) -> std::optional<gpu::UpdateSlot> {
    const double momentum = momentum_of(group);
    float* sq_avg = s.tensors[0].data();
    float* buf = s.tensors[1].data();
    const std::int64_t n = p.value.size();
    if (p.value.on_cuda())
      return gpu::UpdateSlot{p.value.data(), p.grad.data(), sq_avg, buf, n,
                             {float(group.lr), float(group.weight_decay), float(momentum), 0, 0}};
#pragma omp parallel for num_threads(threads_) if (n > (1 << 14))
    for (std::int64_t i = 0; i < n; ++i) {
      const double g = double(p.grad[i]) + group.weight_decay * p.value[i];
      const double sq = alpha_ * sq_avg[i] + (1 - alpha_) * g * g;
      sq_avg[i] = float(sq);
      const double scaled = g / (std::sqrt(sq) + eps_);
      if (momentum > 0) {
        const double b = momentum * buf[i] + scaled;
        buf[i] = float(b);
        p.value[i] = float(p.value[i] - group.lr * b);
      } else {
        p.value[i] = float(p.value[i] - group.lr * scaled);
      }
    }
    return std::nullopt;
  });
  if (!on_gpu.empty()) gpu::rmsprop_update(on_gpu, float(alpha_), float(eps_));
}

const std::vector<std::string>& optimizer_names() {
  static const std::vector<std::string> names = {"sgd", "nesterov", "adam", "adamw", "rmsprop"};
  return names;
}

std::unique_ptr<Optimizer> make_optimizer(const std::string& name, std::vector<ParamGroup> groups) {
  if (name == "sgd") return std::make_unique<Sgd>(std::move(groups), 0.9);
  if (name == "nesterov") return std::make_unique<Sgd>(std::move(groups), 0.9, true);
  if (name == "adam") return std::make_unique<Adam>(std::move(groups));
  if (name == "adamw") return std::make_unique<Adam>(std::move(groups), true);
  if (name == "rmsprop") return std::make_unique<RmsProp>(std::move(groups));
  throw std::invalid_argument("unknown optimizer '" + name + "' (valid: sgd, nesterov, adam, adamw, rmsprop)");
}

std::unique_ptr<Optimizer> make_optimizer(const std::string& name, std::vector<Parameter*> params, double lr,
                                          double weight_decay) {
  return make_optimizer(name, std::vector<ParamGroup>{{std::move(params), lr, weight_decay}});
}

#ifndef FLOPSLAB_HAVE_CUDA  // the CPU-only build's stand-in of the GPU half (nn/device.h's no_cuda)
void gpu::adam_update(const std::vector<UpdateSlot>&, float, float, bool) { no_cuda("gpu::adam_update"); }
void gpu::sgd_update(const std::vector<UpdateSlot>&, bool) { no_cuda("gpu::sgd_update"); }
void gpu::rmsprop_update(const std::vector<UpdateSlot>&, float, float) { no_cuda("gpu::rmsprop_update"); }
#endif

}  // namespace flopslab::nn
