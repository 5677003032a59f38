// Convolutions on the GPU: the CUDA variants of the registry (direct and implicit-GEMM
// kernels, cuDNN as the peer) through the same sweep as the CPU, timed with CUDA events and
// checked against the float64 reference on the host; and a cuDNN study per layer: every
// forward algorithm found by cudnnFindConvolutionForwardAlgorithm (time, workspace, status,
// determinism), the heuristic's pick, "benchmark" mode (the fastest found) against
// "deterministic" mode (the fastest deterministic one) with a bit-for-bit repeatability test
// of each, and TF32 and FP16 tensor-core rows for context. Requires a usable GPU.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "bench/conv_sweep.h"

namespace flopslab::bench {

ConvSweep run_gpu_conv_sweep(const ConvSweepOptions& options);

struct CudnnAlgorithm {
  std::string name;    // "IMPLICIT_PRECOMP_GEMM"
  std::string status;  // "ok" or cuDNN's reason it cannot run this layer
  double ms = 0;       // cudnnFind's time
  double workspace_bytes = 0;
  bool deterministic = false;
  std::string math;    // the math type it ran with
};

struct CudnnStudy {
  ConvLayer layer;
  std::string unavailable;  // non-empty: why there is no study (cuDNN not built, ...)
  std::vector<CudnnAlgorithm> algorithms;  // FP32 with tensor cores off (CUDNN_FMA_MATH)
  std::string heuristic;                    // cudnnGetConvolutionForwardAlgorithm_v7's first pick
  std::string benchmark_choice, deterministic_choice;
  double benchmark_ms = 0, deterministic_ms = 0;  // median of repeated event timings
  bool benchmark_repeatable = false, deterministic_repeatable = false;  // bit-identical over 5 runs
  std::string tf32_choice, fp16_choice;  // context: tensor cores
  double tf32_ms = 0, fp16_ms = 0;
};

// One study per layer. progress may be empty.
std::vector<CudnnStudy> run_cudnn_studies(const std::vector<ConvLayer>& layers,
                                          const std::function<void(const std::string&)>& progress);
Table cudnn_study_table(const CudnnStudy& study);
std::vector<std::string> cudnn_study_summary(const CudnnStudy& study);
Json cudnn_study_json(const CudnnStudy& study);

}  // namespace flopslab::bench
