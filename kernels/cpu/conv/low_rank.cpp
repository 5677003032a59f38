// The best 1x7-then-7x1 approximation of a 7x7 filter (a rank-one SVD by power iteration).
#include "kernels/cpu/conv/low_rank.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

namespace flopslab::conv {

FilterSvd filter_svd(const std::vector<double>& w, int rows, int cols) {
  if (rows < 1 || cols < 1 || w.size() != std::size_t(rows) * cols)
    throw std::invalid_argument("filter_svd: the matrix must hold rows x cols >= 1 values");
  // Work on the tall orientation: a (m x n, m >= n) whose columns Jacobi rotations make
  // orthogonal; then sigma_i = |a_i|, u_i = a_i / sigma_i, and V collects the rotations.
  const bool transposed = cols > rows;
  const int m = transposed ? cols : rows, n = transposed ? rows : cols;
  std::vector<double> a(std::size_t(m) * n), v(std::size_t(n) * n, 0.0);
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) a[i * n + j] = transposed ? w[j * cols + i] : w[i * cols + j];
  for (int j = 0; j < n; ++j) v[j * n + j] = 1;
  for (int sweep = 0; sweep < 60; ++sweep) {
    double off = 0;
    for (int p = 0; p < n - 1; ++p)
      for (int q = p + 1; q < n; ++q) {
        double alpha = 0, beta = 0, gamma = 0;
        for (int i = 0; i < m; ++i) {
          alpha += a[i * n + p] * a[i * n + p];
          beta += a[i * n + q] * a[i * n + q];
          gamma += a[i * n + p] * a[i * n + q];
        }
        if (gamma == 0 || std::abs(gamma) <= 1e-15 * std::sqrt(alpha * beta)) continue;
        off = std::max(off, std::abs(gamma) / std::sqrt(alpha * beta));
        const double zeta = (beta - alpha) / (2 * gamma);
        const double t = std::copysign(1.0, zeta) / (std::abs(zeta) + std::sqrt(1 + zeta * zeta));
        const double c = 1 / std::sqrt(1 + t * t), s = c * t;
        for (int i = 0; i < m; ++i) {
          const double ap = a[i * n + p], aq = a[i * n + q];
          a[i * n + p] = c * ap - s * aq, a[i * n + q] = s * ap + c * aq;
        }
        for (int i = 0; i < n; ++i) {
          const double vp = v[i * n + p], vq = v[i * n + q];
          v[i * n + p] = c * vp - s * vq, v[i * n + q] = s * vp + c * vq;
        }
      }
    if (off < 1e-15) break;
  }
  std::vector<double> sigma(n);
  for (int j = 0; j < n; ++j) {
    double norm = 0;
    for (int i = 0; i < m; ++i) norm += a[i * n + j] * a[i * n + j];
    sigma[j] = std::sqrt(norm);
  }
  std::vector<int> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int x, int y) { return sigma[x] > sigma[y]; });
  // Tall side: left vectors from a, right vectors from v; swap back when we transposed.
  std::vector<double> left(std::size_t(m) * n), right(std::size_t(n) * n);
  FilterSvd out{rows, cols, {}, {}, {}};
  for (int k = 0; k < n; ++k) {
    const int j = order[k];
    out.sigma.push_back(sigma[j]);
    for (int i = 0; i < m; ++i) left[i * n + k] = sigma[j] > 0 ? a[i * n + j] / sigma[j] : 0.0;
    for (int i = 0; i < n; ++i) right[i * n + k] = v[i * n + j];
  }
  out.u = transposed ? right : left;
  out.v = transposed ? left : right;
  return out;
}

std::vector<double> FilterSvd::approximate(int rank) const {
  const int n = int(sigma.size());
  rank = std::clamp(rank, 0, n);
  std::vector<double> w(std::size_t(rows) * cols, 0.0);
  for (int k = 0; k < rank; ++k)
    for (int i = 0; i < rows; ++i)
      for (int j = 0; j < cols; ++j) w[i * cols + j] += sigma[k] * u[i * n + k] * v[j * n + k];
  return w;
}

double FilterSvd::relative_error(int rank) const {
  double total = 0, rest = 0;
  for (std::size_t k = 0; k < sigma.size(); ++k) {
    total += sigma[k] * sigma[k];
    if (int(k) >= rank) rest += sigma[k] * sigma[k];
  }
  return total > 0 ? std::sqrt(rest / total) : 0.0;
}

std::vector<double> FilterSvd::column_filter() const {
  const int n = int(sigma.size());
  std::vector<double> f(rows);
  for (int i = 0; i < rows; ++i) f[i] = std::sqrt(sigma[0]) * u[i * n];
  return f;
}

std::vector<double> FilterSvd::row_filter() const {
  const int n = int(sigma.size());
  std::vector<double> f(cols);
  for (int j = 0; j < cols; ++j) f[j] = std::sqrt(sigma[0]) * v[j * n];
  return f;
}

namespace {
template <class F>
std::vector<double> sample(int size, F f) {
  std::vector<double> out(std::size_t(size) * size);
  const double centre = (size - 1) / 2.0;
  for (int i = 0; i < size; ++i)
    for (int j = 0; j < size; ++j) out[i * size + j] = f(i - centre, j - centre);
  return out;
}
}  // namespace

std::vector<double> gaussian_filter(int size, double sigma) {
  return sample(size, [&](double y, double x) { return std::exp(-(x * x + y * y) / (2 * sigma * sigma)); });
}

std::vector<double> laplacian_of_gaussian_filter(int size, double sigma) {
  return sample(size, [&](double y, double x) {
    const double r2 = (x * x + y * y) / (2 * sigma * sigma);
    return (r2 - 1) * std::exp(-r2);
  });
}

std::vector<double> gabor_filter(int size, double theta, double wavelength, double sigma) {
  return sample(size, [&](double y, double x) {
    const double along = x * std::cos(theta) + y * std::sin(theta);
    const double across = -x * std::sin(theta) + y * std::cos(theta);
    return std::exp(-(along * along + across * across) / (2 * sigma * sigma)) *
           std::cos(2 * M_PI * along / wavelength);
  });
}

}  // namespace flopslab::conv
