// Inference fusion (lesson 18, seed 001's TensorRT section): a trained model compiled into a
// plan of fused steps for evaluation mode.
//   folding       Conv2d + BatchNorm -> one Conv2d: W' = W * g, b' = (b - mean) * g + beta,
//                 g = gamma / sqrt(var + eps) per output channel;
//   vertical      Conv2d + bias + BatchNorm + ReLU (+ the residual add of a Residual block and
//                 the ReLU after it) -> one pass: the GEMM's epilogue (kernels/cpu/conv/fused.h);
//                 Linear + bias + ReLU likewise;
//   horizontal    the 1x1 convolutions that open several branches of a Concat read the same
//                 input -> one GEMM with their weights stacked;
//   concat        each branch's last convolution writes straight into its channel slice of the
//                 block's output: no copy.
// The rest (pooling, flatten, ...) runs as the layers themselves do in evaluation mode.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "nn/layers.h"

namespace flopslab::nn {

// W' and b' of a Conv2d followed by BatchNorm (running statistics), computed in double.
struct FoldedConv {
  Tensor weight;  // K x C/groups x R x S
  Tensor bias;    // K
};
FoldedConv fold_batch_norm(const Conv2d& conv, const BatchNorm* bn);

// What the compiler did, for the report and the lesson.
struct FusionCounts {
  int folded_batch_norms = 0;
  int fused_epilogues = 0;     // bias / BN / ReLU / residual passes removed into a GEMM's store
  int passes_removed = 0;      // separate passes over an output that no longer run
  int stacked_gemms = 0;       // horizontal fusions
  int stacked_convolutions = 0;
  int concat_copies_removed = 0;
  int concat_copies_left = 0;  // branches not ending in a convolution
};

// max |got - want| and that over max |want|: how far a fused output is from the unfused one,
// relative to the output's own scale (an element near zero would make a per-element ratio
// meaningless).
struct OutputDifference {
  double max_abs = 0, relative = 0;
};
OutputDifference output_difference(const Tensor& got, const Tensor& want);

class FusedStep;

// Who runs the fused convolutions: our GEMM epilogue, or oneDNN's convolution with post-ops
// (the peer; the rest of the plan is the same).
enum class ConvEngine { flopslab, onednn };

class InferencePlan {
 public:
  // The model must outlive the plan (unfused references and the layers that are not fused run
  // through it). An input of the wrong shape throws std::invalid_argument naming the step.
  explicit InferencePlan(Sequential& model);
  ~InferencePlan();
  InferencePlan(InferencePlan&&) noexcept;
  Tensor forward(const Tensor& x, int threads, ConvEngine engine = ConvEngine::flopslab);
  // One line per top-level step: "Conv2d(1 -> 16, 3x3, pad 1,1) + BatchNorm folded + ReLU (epilogue)".
  std::vector<std::string> describe() const;
  const FusionCounts& counts() const { return counts_; }

  // Runs each top-level step fused and unfused on the same input (the fused run's own
  // activations) and returns each step's max |fused - unfused| / max |unfused|.
  struct StepError {
    std::string step;
    double max_abs = 0, relative = 0;
  };
  std::vector<StepError> compare_steps(const Tensor& x, int threads);

  // One top-level step on its own, fused (by `engine`) or as the layers it replaces, for
  // per-step timing: the input of step i is step i-1's output.
  std::size_t step_count() const { return steps_.size(); }
  Tensor run_step(std::size_t i, const Tensor& x, int threads, ConvEngine engine = ConvEngine::flopslab);
  Tensor run_step_unfused(std::size_t i, const Tensor& x, int threads);

 private:
  std::vector<std::unique_ptr<FusedStep>> steps_;
  FusionCounts counts_;
};

// The plan as a Module for evaluation (nn::evaluate); it has no backward.
class FusedModel : public Module {
 public:
  explicit FusedModel(InferencePlan& plan) : plan_(plan) {}
  std::string describe() const override { return "FusedModel"; }
  Tensor forward(const Tensor& x, const Context& ctx) override;
  Tensor backward(const Tensor& dy, const Context& ctx) override;

 private:
  InferencePlan& plan_;
};

}  // namespace flopslab::nn
