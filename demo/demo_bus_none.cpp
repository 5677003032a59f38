// The race's bus scene in a build without CUDA (demo/demo_bus.cpp otherwise): its contestants
// cannot be made, and the scene says why.
#include "demo/demo_bus.h"
#include "harness/machine/gpu_runtime.h"

namespace flopslab::bench {

std::vector<Contestant> bus_contestants(std::int64_t) { no_gpu(); }

}  // namespace flopslab::bench
