// Load latency by pointer chasing. Each 64-byte line of a buffer holds the address of the
// next line to visit; the order is one random cycle through all lines of the working set, so
// every load depends on the previous one (no overlap) and its address is unpredictable (no
// prefetching). Time per load is then the latency of whichever level holds the working set.
#pragma once

#include <cstdint>

namespace flopslab::probes {

constexpr std::int64_t kLineBytes = 64;

// Links lines [0, lines) of `buffer` (at least lines x 64 bytes, 64-byte aligned) into one
// random cycle (a shuffled order, each line pointing at the next, the last at the first).
// Returns the first line. Deterministic for a seed.
void* link_random_cycle(char* buffer, std::int64_t lines, std::uint64_t seed);

// Follows `steps` links from `start`; returns where it stopped (so the loads stay live).
void* chase(void* start, std::int64_t steps);

}  // namespace flopslab::probes
