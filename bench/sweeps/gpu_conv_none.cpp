// The CUDA convolution sweep and cuDNN's study in a build without CUDA (bench/sweeps/gpu_conv.cpp
// otherwise): no CUDA variants, and the sweep refused with the reason.
#include "bench/sweeps/gpu_conv.h"
#include "harness/machine/gpu_runtime.h"

namespace flopslab::bench {

std::vector<const ConvVariant*> cuda_conv_variants() { return {}; }
std::string gpu_conv_sweep_problem(const ConvSweepOptions&) { return "no usable GPU: " + gpu_status().reason; }
ConvSweep run_gpu_conv_sweep(const ConvSweepOptions&) { no_gpu(); }
CudnnStudy run_cudnn_study(const ConvLayer&, const TimingOptions&, const std::function<void(const std::string&)>&) {
  no_gpu();
}
ShuffleMeasurement measure_gpu_channel_shuffle(std::int64_t, std::int64_t, std::int64_t, std::int64_t,
                                               const TimingOptions&) {
  no_gpu();
}

}  // namespace flopslab::bench
