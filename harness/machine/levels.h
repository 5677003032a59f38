// Finding the cache levels in a latency curve (working-set size -> time per load).
//
// The curve is a staircase: flat while the working set fits in a level, rising once it does
// not. After a running median of three (one disturbed point must not end a plateau), a
// plateau is a run of at least three points within 12% of the run's median; runs
// closer than 1.3x to their neighbour merge. A boundary between two plateaus is placed at the
// last working set whose latency is still below low + 15% of the way to the next plateau:
// with a random access order, that is within about 20% of the level's capacity.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace flopslab::bench {

struct CurvePoint {
  double bytes = 0;
  double latency = 0;  // any unit; only ratios matter
};

struct Plateau {
  std::size_t first = 0, last = 0;  // indices into the curve
  double latency = 0;               // median over the plateau
};

struct Boundary {
  double bytes = 0;                // the last working set that still fits
  double below = 0, above = 0;     // latencies of the plateaus on either side
};

struct Levels {
  std::vector<Plateau> plateaus;
  std::vector<Boundary> boundaries;  // plateaus.size() - 1 of them
};

Levels find_levels(const std::vector<CurvePoint>& curve);  // plateau latencies from the smoothed curve

// Names for the plateaus: L1, L2, ... for caches, then "DRAM" for the first plateau slower than
// 40 ns and at least 3x the one before it, and "DRAM, beyond TLB reach" for any slower
// plateau after it (page-table walks added to every load).
std::vector<std::string> level_names(const Levels& levels);


}  // namespace flopslab::bench
