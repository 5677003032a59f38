// The last cache level's real size, measured: where the OS reports a last level no CPU has
// (a virtual machine seeing its host's whole chip), the GEMM blocks are sized from this.
#pragma once

#include <cstdint>
#include <string>

namespace flopslab::bench {

struct LastLevelMeasurement {
  std::int64_t boundary_bytes = 0;  // the last working set still in the last cache; 0: none found
  double cache_ns = 0, dram_ns = 0;  // the plateaus on either side
};

// A short pointer-chasing curve (the latency probe's method, 2 working sets per octave) from
// `from_bytes` to `to_bytes`, and the boundary before its DRAM plateau. About a second.
LastLevelMeasurement measure_last_cache_boundary(std::int64_t from_bytes, std::int64_t to_bytes);

// Where the OS's last level is implausible (gemm::packed::last_level_implausible), measures the
// boundary once per process and sizes the GEMM blocks from it (use_measured_last_level).
// Returns the sentence the GEMM output prints about it; "" when the reported level stands.
std::string size_gemm_blocks_from_measured_caches();

}  // namespace flopslab::bench
