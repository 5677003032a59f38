// Formatting rates, ratios, percentages, byte counts and shapes the same way in every section.
#include "harness/format.h"

#include <cmath>
#include <cstdint>

#include <fmt/format.h>

namespace flopslab::bench {

std::string format_rate(double v) {
  if (!std::isfinite(v)) return "-";
  if (v >= 100) return fmt::format("{:.0f}", v);
  if (v >= 10) return fmt::format("{:.1f}", v);
  if (v >= 1) return fmt::format("{:.2f}", v);
  return fmt::format("{:.3f}", v);
}

std::string format_shape(gemm::Shape s) {
  if (s.m == s.n && s.n == s.k) return fmt::format("{}^3", s.m);
  return fmt::format("{}x{}x{}", s.m, s.n, s.k);
}

std::string format_ratio(double r) {
  if (!std::isfinite(r)) return "-";
  return r >= 100 ? fmt::format("{:.0f}x", r) : r >= 10 ? fmt::format("{:.1f}x", r) : fmt::format("{:.2f}x", r);
}

std::string format_percent(double fraction) {
  return std::isfinite(fraction) ? fmt::format("{:.1f}%", 100 * fraction) : "-";
}

void add_timing_fields(Json& row, const Timing& t) {
  row["median_s"] = t.median;
  row["min_s"] = t.min;
  row["max_s"] = t.max;
  row["q1_s"] = t.q1;
  row["q3_s"] = t.q3;
  row["spread"] = t.spread();
  row["samples"] = t.samples.size();
  row["calls_per_sample"] = t.calls_per_sample;
  row["settled"] = t.settled;
}

Json check_json(const GemmCheck& c) {
  return {{"passed", c.passed()},       {"compared", c.compared},
          {"over_bound", c.over_bound}, {"non_finite", c.non_finite},
          {"worst_fraction_of_bound", c.worst}, {"sampled", c.sampled}};
}

std::string format_bytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (bytes >= 1024 && u < 4) {
    bytes /= 1024;
    ++u;
  }
  if (u == 0) return fmt::format("{:.0f} B", bytes);
  return bytes == static_cast<double>(static_cast<std::int64_t>(bytes))
             ? fmt::format("{:.0f} {}", bytes, units[u])
             : fmt::format("{:.2f} {}", bytes, units[u]);
}

std::string plural(long long count, const std::string& noun) {
  return fmt::format("{} {}{}", count, noun, count == 1 ? "" : "s");
}

}  // namespace flopslab::bench
