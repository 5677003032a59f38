// A tensor of uniform random values in [low, high), for the layer tests on either device.
#pragma once

#include <random>
#include <vector>

#include "nn/tensor.h"

namespace flopslab::tests {

inline nn::Tensor random_tensor(std::vector<std::int64_t> shape, std::mt19937_64& rng, float low = -1, float high = 1) {
  nn::Tensor t(std::move(shape));
  std::uniform_real_distribution<float> d(low, high);
  for (std::int64_t i = 0; i < t.size(); ++i) t[i] = d(rng);
  return t;
}

}  // namespace flopslab::tests
