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

// The cost of a layer that only moves values: its forward reads the input and writes the
// output; its backward reads dL/dy and `backward_reads` more tensors of the input's size (what
// forward saved) and writes dL/dx; `extra` bytes (parameters, masks, indices) each way.
inline LayerCost data_movement_cost(double input_elements, double output_elements, int backward_reads,
                                    double extra_forward = 0, double extra_backward = 0) {
  return {.counted = true,
          .forward_bytes = 4 * (input_elements + output_elements) + extra_forward,
          .backward_bytes = 4 * (output_elements + (1 + backward_reads) * input_elements) + extra_backward};
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
