// Convolutions on the GPU: the CUDA direct and implicit-GEMM kernels against cuDNN, through
// the same sweep as the CPU. Not written yet (issue 5): run_gpu_conv_sweep refuses with that
// reason (bench/gpu/gpu_conv_pending.cpp).
#pragma once

#include "bench/conv_sweep.h"

namespace flopslab::bench {

ConvSweep run_gpu_conv_sweep(const ConvSweepOptions& options);

}  // namespace flopslab::bench
