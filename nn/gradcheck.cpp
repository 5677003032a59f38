// Finite-difference gradient checks of a module's backward, input and parameters.
#include "nn/gradcheck.h"

#include <algorithm>
#include <cmath>
#include <random>

namespace flopslab::nn {

std::vector<GradientReport> gradient_check(Module& module, Tensor x, const Context& ctx, double h, double rtol,
                                           const std::function<void()>& before_forward, std::uint64_t seed) {
  auto forward = [&](const Tensor& input) {
    if (before_forward) before_forward();
    return module.forward(input, ctx);
  };
  const Tensor y = forward(x);
  Tensor r(y.shape());
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> uniform(-1, 1);
  for (std::int64_t i = 0; i < r.size(); ++i) r[i] = uniform(rng);
  auto loss = [&](const Tensor& out) {
    double s = 0;
    for (std::int64_t i = 0; i < out.size(); ++i) s += double(out[i]) * r[i];
    return s;
  };
  const Tensor dx = module.backward(r, ctx).clone();
  const std::vector<Parameter*> params = module.parameters();
  std::vector<Tensor> grads;
  for (Parameter* p : params) grads.push_back(p->grad.clone());

  auto check = [&](const std::string& name, const Tensor& analytic, const std::function<float&(std::int64_t)>& value) {
    GradientReport report{name, analytic.size()};
    double scale = 1e-3;
    for (std::int64_t i = 0; i < analytic.size(); ++i) scale = std::max(scale, double(std::fabs(analytic[i])));
    for (std::int64_t i = 0; i < analytic.size(); ++i) {
      float& v = value(i);
      const float saved = v;
      v = saved + float(h);
      const double plus = loss(forward(x));
      v = saved - float(h);
      const double minus = loss(forward(x));
      v = saved;
      const double error = std::fabs((plus - minus) / (2 * h) - analytic[i]) / scale;
      report.worst = std::max(report.worst, error);
      report.off += error > rtol;
    }
    return report;
  };
  std::vector<GradientReport> out;
  out.push_back(check("dx", dx, [&](std::int64_t i) -> float& { return x[i]; }));
  for (std::size_t p = 0; p < params.size(); ++p)
    out.push_back(check(params[p]->name, grads[p], [&](std::int64_t i) -> float& { return params[p]->value[i]; }));
  return out;
}

}  // namespace flopslab::nn
