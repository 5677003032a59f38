// The CUDA GEMM sweep in a build without CUDA (bench/sweeps/gpu_gemm.cu otherwise): no CUDA
// variants, and the sweep refused with the reason.
#include "bench/sweeps/gpu_gemm.h"
#include "harness/machine/gpu_runtime.h"

namespace flopslab::bench {

std::vector<const GemmVariant*> cuda_gemm_variants() { return {}; }
GemmSweepOptions default_gpu_gemm_sweep(bool) { return {}; }
std::string gpu_gemm_sweep_problem(const GemmSweepOptions&) { return "no usable GPU: " + gpu_status().reason; }
GemmSweep run_gpu_gemm_sweep(const GemmSweepOptions&) { no_gpu(); }

}  // namespace flopslab::bench
