// Convolutions on the GPU: the CUDA direct and implicit-GEMM kernels against cuDNN through the
// same rows as the CPU sweep (bench/sweeps/conv_sweep.h), each result checked against the float64
// reference and timed with CUDA events; a study of cuDNN's own algorithms (lesson 09); and the
// GPU channel shuffle against a device-to-device copy (lesson 11). Requires a usable GPU.
#pragma once

#include <string>
#include <vector>

#include "bench/sweeps/conv_sweep.h"

namespace flopslab::bench {

std::vector<const ConvVariant*> cuda_conv_variants();

// Refuses layers whose tensors would not fit in the GPU's free memory.
std::string gpu_conv_sweep_problem(const ConvSweepOptions& options);
ConvSweep run_gpu_conv_sweep(const ConvSweepOptions& options);

// One algorithm of one pass, as cudnnFind reports it (time, workspace, status, determinism).
struct CudnnAlgorithmRow {
  std::string name, status, math;
  int id = -1;
  double milliseconds = 0;
  std::int64_t workspace_bytes = 0;
  bool deterministic = false;
};

struct CudnnPassStudy {
  conv::Pass pass = conv::Pass::forward;
  std::vector<CudnnAlgorithmRow> found;  // cudnnFind's list, fastest first
  std::string heuristic_pick;            // the _v7 heuristic's first choice
  std::string fastest, fastest_deterministic;  // "benchmark" mode and "deterministic" mode
  int repeats = 0;                       // runs compared bit for bit
  bool fastest_reproducible = false, deterministic_reproducible = false;
};

// One forward pass at another precision, checked against the float64 reference with the
// tolerance widened for its inputs' mantissas.
struct CudnnPrecisionRow {
  std::string precision, algorithm;
  Timing timing;
  GemmCheck check;
};

struct CudnnStudy {
  std::string unavailable;  // why there is no study (no cuDNN in this build); empty when run
  std::string version;
  ConvLayer layer;
  std::vector<CudnnPassStudy> passes;
  std::vector<CudnnPrecisionRow> precisions;  // fp32 (FMA), tf32, fp16
};

CudnnStudy run_cudnn_study(const ConvLayer& layer, const TimingOptions& timing,
                           const std::function<void(const std::string&)>& progress);
std::vector<Table> cudnn_algorithm_tables(const CudnnStudy& study);  // one per pass
std::vector<std::string> cudnn_study_lines(const CudnnStudy& study);
Json cudnn_study_json(const CudnnStudy& study);

// The GPU channel shuffle (kernels/cuda/conv) against cudaMemcpy device to device of the same
// bytes; threads is 0 in the result.
ShuffleMeasurement measure_gpu_channel_shuffle(std::int64_t n, std::int64_t c, std::int64_t plane, std::int64_t groups,
                                               const TimingOptions& timing);

}  // namespace flopslab::bench
