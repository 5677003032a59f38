// The CUDA GEMM ladder against cuBLAS: every CUDA variant of the registry at every shape,
// each result checked against cuBLAS FP32 (absolute + relative tolerance, NaN count) and
// against the float64 reference on the host, then timed with CUDA events. cuBLAS TF32 and
// BF16 tensor-core GEMMs appear as context rows. Requires a usable GPU.
#pragma once

#include "bench/sweeps/gemm_sweep.h"

namespace flopslab::bench {

// CUDA variants of the registry (ladder, peer and context rows).
std::vector<const GemmVariant*> cuda_gemm_variants();

// Sizes 1024, 2048, 4096 (quick: 127, 256); all CUDA variants.
GemmSweepOptions default_gpu_gemm_sweep(bool quick);

// Refuses shapes whose A, B, C and reference would not fit in the GPU's free memory.
std::string gpu_gemm_sweep_problem(const GemmSweepOptions& options);

GemmSweep run_gpu_gemm_sweep(const GemmSweepOptions& options);

}  // namespace flopslab::bench
