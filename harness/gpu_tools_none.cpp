// The GPU's buffers and timers in a build without CUDA (harness/gpu_tools.cu otherwise): no
// memory to report.
#include "harness/gpu_tools.h"

namespace flopslab::bench {

GpuMemory gpu_memory() { return {}; }

}  // namespace flopslab::bench
