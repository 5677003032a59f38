// Finding the cache levels as plateaus and steps in a latency curve.
#include "harness/machine/levels.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace flopslab::bench {
namespace {

constexpr double kPlateauTolerance = 0.12;  // log units, about 12.7%
constexpr std::size_t kMinPoints = 3;
constexpr double kMinStep = 1.3;
constexpr double kRiseFraction = 0.15;
// Every cache level we know is at least twice as slow as the one before (L1 -> L2 about 3x,
// L2 -> L3 3-8x). A smaller step below DRAM's latency is the TLB: in a VM whose host maps the
// guest with 4 KiB pages, the second-level TLB and page walks add a few cycles per load past a
// few hundred KiB, long before the L2 is full.
constexpr double kMinCacheStep = 2.0;
constexpr double kDramNs = 40;  // slower than this and at least 3x the level before: DRAM

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double median_latency(const std::vector<CurvePoint>& c, std::size_t first, std::size_t last) {
  std::vector<double> v;
  for (std::size_t i = first; i <= last; ++i) v.push_back(c[i].latency);
  return median(v);
}

}  // namespace

Levels find_levels(const std::vector<CurvePoint>& raw) {
  // A running median of three first: one disturbed point (a descheduled or migrated core) must
  // not end a plateau; on a monotone staircase the median changes nothing.
  std::vector<CurvePoint> curve = raw;
  for (std::size_t i = 1; i + 1 < raw.size(); ++i)
    curve[i].latency = median({raw[i - 1].latency, raw[i].latency, raw[i + 1].latency});
  Levels out;
  // 1. Runs of points near their running median.
  std::vector<Plateau> runs;
  std::size_t start = 0;
  for (std::size_t i = 1; i <= curve.size(); ++i) {
    const bool ends = i == curve.size() ||
                      std::abs(std::log(curve[i].latency / median_latency(curve, start, i - 1))) > kPlateauTolerance;
    if (!ends) continue;
    if (i - start >= kMinPoints) runs.push_back({start, i - 1, median_latency(curve, start, i - 1)});
    start = i;
  }
  // 2. Neighbours that are not a real step apart are one level (noise split them).
  for (const Plateau& r : runs) {
    const double step = out.plateaus.empty() ? 0 : r.latency / out.plateaus.back().latency;
    const double min_step = r.latency < kDramNs ? kMinCacheStep : kMinStep;
    if (!out.plateaus.empty() && step < min_step && step > 1 / kMinStep) {
      Plateau& merged = out.plateaus.back();
      merged.last = r.last;
      merged.latency = median_latency(curve, merged.first, merged.last);
      continue;
    }
    out.plateaus.push_back(r);
  }
  // 3. A boundary in each rise.
  for (std::size_t k = 0; k + 1 < out.plateaus.size(); ++k) {
    const Plateau& low = out.plateaus[k];
    const Plateau& high = out.plateaus[k + 1];
    const double threshold = low.latency + kRiseFraction * (high.latency - low.latency);
    std::size_t last_fit = low.last;
    for (std::size_t i = low.last + 1; i < high.first && curve[i].latency < threshold; ++i) last_fit = i;
    out.boundaries.push_back({curve[last_fit].bytes, low.latency, high.latency});
  }
  return out;
}

std::vector<std::string> level_names(const Levels& levels) {
  std::vector<std::string> names;
  bool dram = false;
  for (std::size_t k = 0; k < levels.plateaus.size(); ++k) {
    const double latency = levels.plateaus[k].latency;
    if (!dram && k > 0 && latency >= kDramNs && latency >= 3 * levels.plateaus[k - 1].latency) {
      dram = true;
      names.emplace_back("DRAM");
    } else if (dram) {
      names.emplace_back("DRAM, beyond TLB reach");
    } else {
      std::string name = "L";
      name += std::to_string(k + 1);
      names.push_back(name);
    }
  }
  return names;
}

}  // namespace flopslab::bench
