// Measuring the core clock without reading a table: a chain of dependent integer adds
// retires one add per cycle on every x86 core of the last fifteen years (1-cycle ALU
// latency), so adds / seconds is the clock frequency the core actually ran at.
#pragma once

#include <cstdint>

namespace flopslab::probes {

constexpr int kAddsPerIteration = 100;

// Runs iterations x kAddsPerIteration dependent adds; returns the chain's value so the work
// cannot be removed.
std::uint64_t dependent_adds(std::int64_t iterations);

}  // namespace flopslab::probes
