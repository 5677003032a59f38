// The CPU-only build: no CUDA compiler was found at configure time.
#include "bench/gpu/gpu_runtime.h"

namespace flopslab::bench {

const GpuStatus& gpu_status() {
  static const GpuStatus status{.built = false,
                                .usable = false,
                                .reason = "this flopslab was built without CUDA (no nvcc at configure time)"};
  return status;
}

}  // namespace flopslab::bench
