// The CPU-only build: no CUDA compiler was found at configure time.
#include "harness/machine/gpu_runtime.h"

#include <stdexcept>

namespace flopslab::bench {

const GpuStatus& gpu_status() {
  static const GpuStatus status{.built = false,
                                .usable = false,
                                .reason = "this flopslab was built without CUDA (no nvcc at configure time)"};
  return status;
}

void no_gpu() { throw std::runtime_error(gpu_status().reason); }

}  // namespace flopslab::bench
