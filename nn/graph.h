// A training step as one CUDA graph: forward, cross-entropy and backward of a fixed batch
// shape, captured once and replayed every step after, so a small batch costs one launch
// instead of one per kernel (lesson 20: small batches leave the GPU launch-bound).
//
// The first run() is an ordinary eager step: it allocates the gradients, lets cuBLAS, cuDNN
// and the split-K GEMM grow their workspaces, and fills the memory cache, so that the capture
// on the second run() sees the addresses every replay will use. What the capture allocates
// comes from a private pool of the device cache (nn/memory.h) that nothing else is given
// while the graph lives. The optimizer's update stays outside the graph (its step size
// changes every step): one fused launch after each replay.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "nn/module.h"
#include "nn/tensor.h"

namespace flopslab::nn {

class GraphedStep {
 public:
  explicit GraphedStep(Module& model);
  ~GraphedStep();
  GraphedStep(const GraphedStep&) = delete;
  GraphedStep& operator=(const GraphedStep&) = delete;

  struct Result {
    double loss = 0;  // the batch's mean cross-entropy, back on the host
    Tensor logits;    // on the GPU; the graph overwrites it on the next run()
  };
  // x: the batch on the GPU, the same shape every call (std::invalid_argument otherwise);
  // labels in [0, classes). ctx is the one of the first call every time: the graph keeps what
  // it was captured with.
  Result run(const Tensor& x, const std::vector<std::int64_t>& labels, const Context& ctx);
  bool captured() const;
  // The launches the capture recorded: what each replay issues as one.
  std::int64_t kernels_per_replay() const;

  // Empty when `model` can be captured; otherwise why not (a layer whose every step draws new
  // random numbers on the host, like dropout, would replay its first mask forever).
  static std::string cannot_capture(Module& model);

 private:
  struct State;
  std::unique_ptr<State> s_;
};

}  // namespace flopslab::nn
