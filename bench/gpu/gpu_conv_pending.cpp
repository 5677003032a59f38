// The GPU half of the convolution work (CUDA direct and implicit-GEMM kernels, cuDNN and its
// algorithm study) is not written yet; until it is, asking for it says so. See issue 5.
#include <stdexcept>

#include "bench/gpu/gpu_conv.h"

namespace flopslab::bench {

ConvSweep run_gpu_conv_sweep(const ConvSweepOptions&) {
  throw std::runtime_error(
      "the CUDA convolution kernels and the cuDNN study are not written yet (open work, issue 5); "
      "run 'flopslab conv' on the CPU");
}

}  // namespace flopslab::bench
