// The GPU half of the convolution work (CUDA direct and implicit-GEMM kernels, cuDNN) is not
// written yet; until it is, asking for it says so instead of pretending. See issue 5.
#include <stdexcept>

#include "bench/gpu/gpu_conv.h"

namespace flopslab::bench {
namespace {
[[noreturn]] void not_yet() {
  throw std::runtime_error(
      "the CUDA convolution kernels and the cuDNN study are not written yet (open work, issue 5); "
      "run 'flopslab conv' on the CPU");
}
}  // namespace

ConvSweep run_gpu_conv_sweep(const ConvSweepOptions&) { not_yet(); }
std::vector<CudnnStudy> run_cudnn_studies(const std::vector<ConvLayer>&, const std::function<void(const std::string&)>&) {
  not_yet();
}

}  // namespace flopslab::bench
