// The least-squares fit of t(n) = alpha + n * beta and its description in words.
#include "harness/fit.h"

#include <stdexcept>

#include <fmt/format.h>

namespace flopslab::bench {

AlphaBeta fit_alpha_beta(const std::vector<double>& bytes, const std::vector<double>& seconds) {
  if (bytes.size() != seconds.size()) throw std::invalid_argument("fit_alpha_beta: as many sizes as times");
  // Minimise sum ((alpha + n beta - t) / t)^2: weighted least squares with weights 1/t^2.
  double sw = 0, sn = 0, snn = 0, st = 0, snt = 0;
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    if (!(seconds[i] > 0)) throw std::invalid_argument("fit_alpha_beta: a time that is not positive");
    const double w = 1 / (seconds[i] * seconds[i]), n = bytes[i], t = seconds[i];
    sw += w, sn += w * n, snn += w * n * n, st += w * t, snt += w * n * t;
  }
  const double det = sw * snn - sn * sn;
  if (bytes.size() < 2 || !(det > 1e-12 * sw * snn)) throw std::invalid_argument("fit_alpha_beta: needs two or more different sizes");
  AlphaBeta f{.alpha_s = (snn * st - sn * snt) / det, .beta_s_per_byte = (sw * snt - sn * st) / det};
  if (f.alpha_s < 0) f = {.alpha_s = 0, .beta_s_per_byte = snt / snn};  // through the origin
  return f;
}

std::string describe_fit(const AlphaBeta& f) {
  return fmt::format("alpha {:.2f} us, beta {:.3f} ns/B ({:.2f} GB/s)", 1e6 * f.alpha_s, 1e9 * f.beta_s_per_byte,
                     1e-9 * f.bytes_per_s());
}

}  // namespace flopslab::bench
