// cuDNN's convolution, through its classic API (descriptors, cudnnFind*, the _v7 heuristic):
// the peer the CUDA kernels are timed against, and the subject of lesson 09's study of its
// algorithms. No cuDNN header here; callers pass device pointers and streams as void*.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/conv.h"

namespace flopslab::conv::cudnn {

// fp32: FP32 data with FMA math only (CUDNN_FMA_MATH: no TF32), the fair peer.
// tf32: FP32 data, tensor cores allowed (TF32 products, 10-bit mantissas): context.
// fp16: FP16 data, FP32 accumulation, tensor cores: context.
enum class Precision { fp32, tf32, fp16 };
const char* precision_name(Precision precision);

struct Algorithm {
  int id = -1;                 // the cudnnConvolution{Fwd,BwdData,BwdFilter}Algo_t value
  std::string name;            // "IMPLICIT_PRECOMP_GEMM", "WINOGRAD_NONFUSED", ...
  std::string status = "ok";   // "ok", or cuDNN's reason it could not run
  double milliseconds = 0;     // cudnnFind's own timing (0 from the heuristic)
  std::int64_t workspace_bytes = 0;
  bool deterministic = false;  // cuDNN's own claim: same result bit for bit on every run
  std::string math;            // "FMA", "tensor ops", "tensor ops with conversion", "default"

  bool ok() const { return status == "ok"; }
};

// Device tensors of one problem; in fp16 they hold halves.
struct Tensors {
  Shape shape;
  void* x = nullptr;
  void* w = nullptr;
  void* y = nullptr;
};

// cudnnFind: every algorithm of the pass run and timed by cuDNN on its own scratch buffers
// (the tensors are not touched), in its order, fastest first, failures last.
std::vector<Algorithm> find_algorithms(const Shape& shape, Pass pass, Precision precision, void* stream);
// cudnnGet*Algorithm_v7: what the heuristic would choose without running anything, best first.
std::vector<Algorithm> heuristic_algorithms(const Shape& shape, Pass pass, Precision precision);
// The named algorithm of the pass, without timing it ("IMPLICIT_GEMM" forward, ...).
Algorithm algorithm_by_id(const Shape& shape, Pass pass, Precision precision, int id);

// Runs one pass with the algorithm. Its workspace comes from a buffer kept between calls;
// a workspace larger than the free GPU memory throws, naming both sizes.
void run(const Tensors& tensors, Pass pass, Precision precision, const Algorithm& algorithm, void* stream);

// The fastest working algorithm cudnnFind reports for the pass (found once per shape, pass and
// precision, then cached); optionally only among those cuDNN calls deterministic.
Algorithm fastest_algorithm(const Shape& shape, Pass pass, Precision precision, bool deterministic_only, void* stream);

// "9.19.0" as loaded at run time.
std::string version();

}  // namespace flopslab::conv::cudnn
