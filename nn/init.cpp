// The initialisers: uniform, normal, Glorot (xavier) and Kaiming, and the constant fill.
#include "nn/init.h"

#include <cmath>

namespace flopslab::nn {

void uniform(Tensor& t, double bound, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> d(-bound, bound);
  for (std::int64_t i = 0; i < t.size(); ++i) t[i] = float(d(rng));
}

namespace {
void normal(Tensor& t, double stddev, std::mt19937_64& rng) {
  std::normal_distribution<double> d(0.0, stddev);
  for (std::int64_t i = 0; i < t.size(); ++i) t[i] = float(d(rng));
}
}  // namespace

void xavier_normal(Tensor& t, std::int64_t fan_in, std::int64_t fan_out, std::mt19937_64& rng, double gain) {
  normal(t, gain * std::sqrt(2.0 / double(fan_in + fan_out)), rng);
}
void kaiming_uniform(Tensor& t, std::int64_t fan_in, std::mt19937_64& rng, double a) {
  uniform(t, std::sqrt(2.0 / (1.0 + a * a)) * std::sqrt(3.0 / double(fan_in)), rng);
}
void kaiming_normal(Tensor& t, std::int64_t fan_in, std::mt19937_64& rng, double a) {
  normal(t, std::sqrt(2.0 / (1.0 + a * a)) / std::sqrt(double(fan_in)), rng);
}
void constant(Tensor& t, float value) { t.fill(value); }

}  // namespace flopslab::nn
