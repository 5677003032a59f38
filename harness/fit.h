// Fitting a line to measured costs: t(n) = alpha + n * beta, the latency and inverse bandwidth
// of a message (the all-reduce's links, the CPU-GPU bus).
#pragma once

#include <string>
#include <vector>

namespace flopslab::bench {

// t(n) = alpha + n * beta: seconds for a message of n bytes.
struct AlphaBeta {
  double alpha_s = 0, beta_s_per_byte = 0;
  double seconds(double bytes) const { return alpha_s + bytes * beta_s_per_byte; }
  double bytes_per_s() const { return beta_s_per_byte > 0 ? 1 / beta_s_per_byte : 0; }
};
// Least squares on relative error (every size counts alike, from 4 B to 64 MiB); alpha is
// held at 0 or above. Throws std::invalid_argument with fewer than two distinct sizes.
AlphaBeta fit_alpha_beta(const std::vector<double>& bytes, const std::vector<double>& seconds);
// "alpha 1.20 us, beta 0.102 ns/B (9.80 GB/s)".
std::string describe_fit(const AlphaBeta& fit);

}  // namespace flopslab::bench
