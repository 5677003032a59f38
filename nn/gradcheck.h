// Central finite differences against a module's backward: the check every hand-written
// backward in this stack passes, for the tests and for lesson 12.
//
// With L = sum(forward(x) * r) for a fixed random r, backward(r) gives dL/dx and dL/dparam;
// each element v is compared with (L(v + h) - L(v - h)) / 2h.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "nn/module.h"

namespace flopslab::nn {

struct GradientReport {
  std::string tensor;        // "dx", "0.weight", ...
  std::int64_t elements = 0, off = 0;
  double worst = 0;          // max |numeric - backward| / the largest |backward| of the tensor
};

// One report per tensor (dx, then each parameter). An element is "off" when its difference
// exceeds rtol times the tensor's largest gradient. before_forward, when given, runs before
// every forward (to reset state a forward changes, such as running statistics).
std::vector<GradientReport> gradient_check(Module& module, Tensor x, const Context& ctx, double h = 1e-2,
                                           double rtol = 2e-2, const std::function<void()>& before_forward = nullptr,
                                           std::uint64_t seed = 42);

}  // namespace flopslab::nn
