// What the layer files share.
#pragma once

#include <cmath>
#include <random>
#include <stdexcept>
#include <string>

#include "nn/init.h"
#include "nn/layers.h"

namespace flopslab::nn::detail {

// Below this many elements an elementwise loop runs on one thread (a parallel region costs
// a few microseconds).
constexpr std::int64_t kParallelElements = 1 << 15;

inline void require_rank(const Tensor& x, int rank, const std::string& layer) {
  if (x.rank() != rank)
    throw std::invalid_argument(layer + ": expects a " + std::to_string(rank) + "-D input, got " + x.shape_string());
}

// PyTorch's default for Linear and Conv2d: weight and bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))
// (kaiming_uniform with a = sqrt(5)).
inline void default_init(Parameter& weight, Parameter& bias, std::int64_t fan_in, std::mt19937_64& rng) {
  kaiming_uniform(weight.value, fan_in, rng, std::sqrt(5.0));
  uniform(bias.value, 1.0 / std::sqrt(double(fan_in)), rng);
}

// parameters() names each parameter by its path ("3.weight"); parameter_list() passes a
// prefix that starts with Module::kKeepNames and leaves the names alone.
inline void name_parameters(const std::string& prefix, Parameter& weight, Parameter& bias,
                            std::vector<Parameter*>& out) {
  if (prefix.rfind(Module::kKeepNames, 0) != 0) weight.name = prefix + "weight", bias.name = prefix + "bias";
  out.push_back(&weight);
  out.push_back(&bias);
}

}  // namespace flopslab::nn::detail
