// The classroom race's `bus` scene (lesson 08): the same bytes crossing to the GPU from
// pageable memory, from pinned memory, and from pinned memory in many 4 KiB copies. GPU-only:
// without a usable GPU scene_problem refuses it before anything is set up.
#pragma once

#include <cstdint>
#include <vector>

#include "demo/demo.h"

namespace flopslab::bench {

constexpr std::int64_t kBusSmallCopy = 4096;  // bytes per copy of the many-small-copies contestant

// Contestants each copying `bytes` host-to-device per call; each check brings the device
// buffer back and compares it with what was sent.
std::vector<Contestant> bus_contestants(std::int64_t bytes);

}  // namespace flopslab::bench
