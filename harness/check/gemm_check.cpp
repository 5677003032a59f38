// The float64 GEMM reference and the error bound a correct float32 kernel stays under.
#include "harness/check/gemm_check.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

#include <fmt/format.h>

namespace flopslab::bench {
namespace {

constexpr double kUnitRoundoff = 0x1p-24;

// Picks `count` distinct indices in [0, n): always 0 and n-1, the rest at random.
std::vector<std::int64_t> sample_indices(std::int64_t n, int count, std::mt19937_64& rng) {
  std::vector<std::int64_t> picked;
  if (n <= count) {
    for (std::int64_t i = 0; i < n; ++i) picked.push_back(i);
    return picked;
  }
  picked = {0, n - 1};
  std::uniform_int_distribution<std::int64_t> dist(1, n - 2);
  while (static_cast<int>(picked.size()) < count) {
    const std::int64_t i = dist(rng);
    if (std::find(picked.begin(), picked.end(), i) == picked.end()) picked.push_back(i);
  }
  std::sort(picked.begin(), picked.end());
  return picked;
}

struct Compare {
  const gemm::Operands& op;
  GemmCheck& out;
  double input_roundoff = 0;
  void element(std::int64_t i, std::int64_t j, double ref, double abs_sum) {
    const float c = op.c[i * op.ldc + j];
    if (!std::isfinite(c)) return;  // counted by the full scan
    const double grow = (1 + input_roundoff) * (1 + input_roundoff);
    const double bound = (double(op.shape.k + 2) * kUnitRoundoff * grow + 2 * input_roundoff +
                          input_roundoff * input_roundoff) * abs_sum * (1 + 1e-12);
    const double err = std::abs(double(c) - ref);
    const double ratio = bound > 0 ? err / bound : (err > 0 ? std::numeric_limits<double>::infinity() : 0.0);
    ++out.compared;
    if (err > bound) ++out.over_bound;
    if (ratio > out.worst || out.worst_i < 0) {
      out.worst = ratio;
      out.worst_i = i;
      out.worst_j = j;
    }
  }
};

// Reference for rows [rows) x all columns, in float64, i-p-j order.
void compare_rows(const gemm::Operands& op, const std::vector<std::int64_t>& rows, Compare& cmp) {
  const auto [m, n, k] = op.shape;
  std::vector<double> ref(static_cast<std::size_t>(n)), abs_sum(static_cast<std::size_t>(n));
  for (std::int64_t i : rows) {
    std::fill(ref.begin(), ref.end(), 0.0);
    std::fill(abs_sum.begin(), abs_sum.end(), 0.0);
    for (std::int64_t p = 0; p < k; ++p) {
      const double a = op.a[i * op.lda + p];
      const float* b_row = op.b + p * op.ldb;
      for (std::int64_t j = 0; j < n; ++j) {
        ref[j] += a * double(b_row[j]);
        abs_sum[j] += std::abs(a * double(b_row[j]));
      }
    }
    for (std::int64_t j = 0; j < n; ++j) cmp.element(i, j, ref[j], abs_sum[j]);
  }
}

// Reference for all rows x columns [cols), skipping the rows compare_rows already did.
void compare_columns(const gemm::Operands& op, const std::vector<std::int64_t>& cols,
                     const std::vector<std::int64_t>& rows_done, Compare& cmp) {
  const auto [m, n, k] = op.shape;
  std::vector<double> b_col(static_cast<std::size_t>(k));
  for (std::int64_t j : cols) {
    for (std::int64_t p = 0; p < k; ++p) b_col[p] = op.b[p * op.ldb + j];
    for (std::int64_t i = 0; i < m; ++i) {
      if (std::binary_search(rows_done.begin(), rows_done.end(), i)) continue;
      double ref = 0, abs_sum = 0;
      const float* a_row = op.a + i * op.lda;
      for (std::int64_t p = 0; p < k; ++p) {
        ref += double(a_row[p]) * b_col[p];
        abs_sum += std::abs(double(a_row[p]) * b_col[p]);
      }
      cmp.element(i, j, ref, abs_sum);
    }
  }
}

}  // namespace

std::string GemmCheck::summary() const {
  if (passed())
    return fmt::format("ok: {} elements within the bound{} (worst {:.1f}% of it)", compared,
                       sampled ? " (sampled)" : "", 100 * worst);
  std::string s = "FAIL:";
  if (over_bound > 0)
    s += fmt::format(" {} of {} elements over the error bound (worst {:.3g}x the bound at {})", over_bound, compared,
                     worst, worst_j < 0 ? fmt::format("element {}", worst_i) : fmt::format("C[{}][{}]", worst_i, worst_j));
  if (non_finite > 0) s += fmt::format("{} {} NaN/Inf elements", over_bound > 0 ? ";" : "", non_finite);
  return s;
}

GemmCheck check_gemm(const gemm::Operands& op, std::int64_t full_check_work, std::uint64_t seed, double input_roundoff) {
  const auto [m, n, k] = op.shape;
  GemmCheck out;
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t j = 0; j < n; ++j)
      if (!std::isfinite(op.c[i * op.ldc + j])) ++out.non_finite;

  Compare cmp{op, out, input_roundoff};
  const double work = double(m) * double(n) * double(k);
  if (work <= double(full_check_work)) {
    std::vector<std::int64_t> all(static_cast<std::size_t>(m));
    for (std::int64_t i = 0; i < m; ++i) all[i] = i;
    compare_rows(op, all, cmp);
    return out;
  }
  out.sampled = true;
  std::mt19937_64 rng(seed);
  const std::vector<std::int64_t> rows = sample_indices(m, 16, rng);
  compare_rows(op, rows, cmp);
  compare_columns(op, sample_indices(n, 16, rng), rows, cmp);
  return out;
}

std::string ToleranceCheck::summary() const {
  if (passed())
    return fmt::format("ok: {} elements within {:.2g} + {:.2g}|ref| (max difference {:.3g})", compared, atol, rtol,
                       max_abs_diff);
  return fmt::format("FAIL: {} of {} elements differ by more than {:.2g} + {:.2g}|ref| (worst {:.3g}x), {} NaN/Inf",
                     over, compared, atol, rtol, worst, non_finite);
}

ToleranceCheck compare_to_reference(const float* c, std::int64_t ldc, const float* ref, std::int64_t ldref,
                                    std::int64_t m, std::int64_t n, double atol, double rtol) {
  ToleranceCheck out;
  out.atol = atol;
  out.rtol = rtol;
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t j = 0; j < n; ++j) {
      const double x = c[i * ldc + j], r = ref[i * ldref + j];
      ++out.compared;
      if (!std::isfinite(x)) {
        ++out.non_finite;
        continue;
      }
      const double diff = std::abs(x - r), tol = atol + rtol * std::abs(r);
      out.max_abs_diff = std::max(out.max_abs_diff, diff);
      out.worst = std::max(out.worst, diff / tol);
      if (diff > tol) ++out.over;
    }
  return out;
}

std::pair<double, double> gemm_tolerance(std::int64_t k, double input_roundoff) {
  const double kd = double(std::max<std::int64_t>(k, 1));
  return {4 * kUnitRoundoff * kd + 8 * input_roundoff * std::sqrt(kd), 4 * kUnitRoundoff + 2 * input_roundoff};
}

GemmProblem::GemmProblem(gemm::Shape s, std::uint64_t seed, std::int64_t pad)
    : shape(s), lda(s.k + pad), ldb(s.n + pad), ldc(s.n + pad) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  a.resize(static_cast<std::size_t>(s.m * lda));
  b.resize(static_cast<std::size_t>(s.k * ldb));
  c.resize(static_cast<std::size_t>(s.m * ldc));
  for (float& x : a) x = dist(rng);
  for (float& x : b) x = dist(rng);
  poison_c();
}

gemm::Operands GemmProblem::operands() {
  return {.shape = shape, .a = a.data(), .lda = lda, .b = b.data(), .ldb = ldb, .c = c.data(), .ldc = ldc};
}

void GemmProblem::poison_c() { std::fill(c.begin(), c.end(), std::numeric_limits<float>::quiet_NaN()); }

}  // namespace flopslab::bench
