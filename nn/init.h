// Weight initialisers (Glorot & Bengio 2010; He et al. 2015). fan_in and fan_out are the
// inputs and outputs one weight connects: in and out for Linear, C/g*R*S and K/g*R*S for Conv2d.
#pragma once

#include <cstdint>
#include <random>

#include "nn/tensor.h"

namespace flopslab::nn {

// N(0, s^2), s = gain * sqrt(2 / (fan_in + fan_out))
void xavier_normal(Tensor& t, std::int64_t fan_in, std::int64_t fan_out, std::mt19937_64& rng, double gain = 1.0);
// U(-b, b), b = gain * sqrt(3 / fan_in), gain = sqrt(2 / (1 + a^2)) for (leaky) ReLU with slope a
void kaiming_uniform(Tensor& t, std::int64_t fan_in, std::mt19937_64& rng, double a = 0.0);
// N(0, s^2), s = sqrt(2 / (1 + a^2)) / sqrt(fan_in)
void kaiming_normal(Tensor& t, std::int64_t fan_in, std::mt19937_64& rng, double a = 0.0);
void uniform(Tensor& t, double bound, std::mt19937_64& rng);  // U(-bound, bound)
void constant(Tensor& t, float value);

}  // namespace flopslab::nn
