// Measuring the core clock without reading a table: a chain of dependent integer adds
// retires one add per cycle on every x86 core of the last fifteen years (1-cycle ALU
// latency), so adds / seconds is the clock frequency the core actually ran at.
// The adds take a register operand: recent Intel cores (Golden Cove and later) can resolve
// chains of add-immediate in the renamer, several per cycle, which would read as 9 GHz. A chain
// of dependent multiplies (3 cycles each on every current x86 core) cross-checks it.
#pragma once

#include <cstdint>

namespace flopslab::probes {

constexpr int kAddsPerIteration = 100;

// Runs iterations x kAddsPerIteration dependent adds; returns the chain's value so the work
// cannot be removed.
std::uint64_t dependent_adds(std::int64_t iterations);

constexpr int kMultipliesPerIteration = 50;
constexpr int kMultiplyLatency = 3;  // cycles, Intel since Nehalem and AMD since Zen
// Runs iterations x kMultipliesPerIteration dependent 64-bit multiplies.
std::uint64_t dependent_multiplies(std::int64_t iterations);

}  // namespace flopslab::probes
