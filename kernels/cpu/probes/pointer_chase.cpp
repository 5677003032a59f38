// Building the random pointer-chase rings and walking them to time one load.
#include "kernels/cpu/probes/pointer_chase.h"

#include <random>
#include <utility>
#include <vector>

namespace flopslab::probes {

void* link_random_cycle(char* buffer, std::int64_t lines, std::uint64_t seed) {
  std::vector<std::uint32_t> order(static_cast<std::size_t>(lines));
  for (std::int64_t i = 0; i < lines; ++i) order[i] = static_cast<std::uint32_t>(i);
  std::mt19937_64 rng(seed);
  for (std::int64_t i = lines - 1; i > 0; --i) {  // Fisher-Yates
    std::uniform_int_distribution<std::int64_t> pick(0, i);
    std::swap(order[i], order[pick(rng)]);
  }
  auto line = [&](std::int64_t i) { return reinterpret_cast<void**>(buffer + std::int64_t(order[i]) * kLineBytes); };
  for (std::int64_t i = 0; i + 1 < lines; ++i) *line(i) = line(i + 1);
  *line(lines - 1) = line(0);
  return line(0);
}

void* chase(void* start, std::int64_t steps) {
  void* p = start;
  std::int64_t i = 0;
  for (; i + 8 <= steps; i += 8) {  // unrolled: the loads, not the loop, set the time
    p = *static_cast<void**>(p);
    p = *static_cast<void**>(p);
    p = *static_cast<void**>(p);
    p = *static_cast<void**>(p);
    p = *static_cast<void**>(p);
    p = *static_cast<void**>(p);
    p = *static_cast<void**>(p);
    p = *static_cast<void**>(p);
  }
  for (; i < steps; ++i) p = *static_cast<void**>(p);
  return p;
}

}  // namespace flopslab::probes
