// Step 11: no new kernel, a choice. Each technique above wins somewhere: the implicit GEMM
// where the filter is 1x1 (nothing to gather, and the GEMM's 12 x 32 register tile beats the
// direct kernel's), the direct kernel on the blocked layout wherever a filter has several taps
// and the input enough channels to fill half a vector, step 7's weight gradient wherever the
// filter has several taps.
// This rung picks per shape and pass (the forward by fused.h's choose_technique, which
// inference uses too) and says which ran; nn::Conv2d trains through it.
#include <string>

#include "kernels/cpu/conv/conv_cpu.h"
#include "kernels/cpu/conv/direct_blocked.h"
#include "kernels/registry.h"

namespace flopslab::conv {
extern const ConvVariant kCpuBatched;

namespace cpu {
namespace {

// The one rule: which step runs `pass` of `shape`. 16-bit operands always go to step 5,
// whose GEMMs round them (mixed precision); the direct kernels compute in float32.
//   forward         fused.h's choose_technique, which training and inference use too: step 8
//                   where each filter sees one channel; step 6 unless the filter is 1x1 or a
//                   group has fewer than half a vector of channels; else step 5;
//   backward-data   step 8 for depthwise layers; step 6's flipped-filter convolution for
//                   stride 1, filters above 1x1 and half a vector of channels and filters per
//                   group; else step 5;
//   backward-weights step 8 where each filter sees one channel and its rolling 3x3 kernel
//                   runs; step 7 wherever it runs (stride 1; groups of 1, so a single input
//                   channel too, or groups of at least half a vector of channels) except 1x1 filters,
//                   else step 8 for depthwise layers: it beat or tied step 5's GEMM on every
//                   such layer measured, by 3x on a first layer, whose dW is smaller than one
//                   GEMM micro-tile, and by 6x on 8 groups of 8 channels, where each group's
//                   GEMM is 8 x 72; a 1x1's GEMM gathers nothing and won (0.84 against 1.04 ms);
//                   else step 5.
int chosen_step(const Shape& s, Pass pass, gemm::InputFormat inputs) {
  if (inputs != gemm::InputFormat::fp32) return 5;
  const int half = direct_blocked_vector_floats() / 2;
  switch (pass) {
    case Pass::forward:
      switch (choose_technique(s)) {
        case FusedTechnique::depthwise: return 8;
        case FusedTechnique::direct_blocked: return 6;
        default: return 5;
      }
    case Pass::backward_data:
      if (depthwise_backward_data_unsupported(s) == nullptr) return 8;
      return direct_blocked_backward_data_unsupported(s) == nullptr && !(s.r == 1 && s.s == 1) &&
                     s.c_per_group() >= half && s.k_per_group() >= half
                 ? 6
                 : 5;
    case Pass::backward_weights:
      // One input channel and one group is "depthwise" to step 8 too. Step 7 ran its 3x3 dW
      // (64x1x28x28, 16 filters) in 0.17 ms against step 8's 0.47 on 2 threads until step 8's
      // rolling 3x3 kernel, which takes 0.143 there (3 runs, Zen 4).
      if (depthwise_weight_grad_rolls(s)) return 8;
      if ((s.groups == 1 || s.c_per_group() >= half) && direct_weight_grad_unsupported(s) == nullptr &&
          !(s.r == 1 && s.s == 1))
        return 7;
      if (depthwise_unsupported(s) == nullptr) return 8;
      return 5;
  }
  return 5;
}

void per_shape_forward(const Operands& op, const RunContext& ctx) {
  const Shape& s = op.shape;
  switch (chosen_step(s, Pass::forward, ctx.inputs)) {
    case 8: return depthwise_forward(op, ctx);
    case 6:
      return direct_blocked_forward(FusedConv{.shape = s, .weight = op.w, .outputs = {{s.k, op.y, s.k * s.p() * s.q()}}},
                                    op.x, ctx.threads);
    default: return kCpuBatched.forward(op, ctx);
  }
}
void per_shape_backward_data(const Operands& op, const RunContext& ctx) {
  switch (chosen_step(op.shape, Pass::backward_data, ctx.inputs)) {
    case 8: return depthwise_backward_data(op, ctx);
    case 6: return direct_blocked_backward_data(op, ctx.threads);
    default: return kCpuBatched.backward_data(op, ctx);
  }
}
void per_shape_backward_weights(const Operands& op, const RunContext& ctx) {
  switch (chosen_step(op.shape, Pass::backward_weights, ctx.inputs)) {
    case 8: return depthwise_backward_weights(op, ctx);
    case 7: return direct_weight_grad(op, ctx);
    default: return kCpuBatched.backward_weights(op, ctx);
  }
}

std::string per_shape_ran(const Shape& s, Pass pass) {
  return "step " + std::to_string(chosen_step(s, pass, gemm::InputFormat::fp32));
}

std::string per_shape_detail() {
  const int v = direct_blocked_vector_floats();
  if (v == 0) return "depthwise layers by step 8, every other pass by step 5 (no AVX2 here for steps 6 and 7)";
  return "forward: step 8 where each filter sees one input channel, step 6 (" + std::string(technique_name(FusedTechnique::direct_blocked)) +
         ") unless the filter is 1x1 or C/groups < " + std::to_string(v / 2) +
         ", else step 5; backward-data: step 6's flipped-filter convolution for stride 1, filters above 1x1 and at "
         "least " + std::to_string(v / 2) +
         " channels and filters per group, else step 5; backward-weights: step 7 for stride 1, filters above 1x1 and "
         "groups of 1 or of at least " + std::to_string(v / 2) +
         " channels, else step 5; depthwise layers: step 8 for every pass it covers (backward-weights with one "
         "input channel: step 8 for a 3x3 at stride 1, else step 7); 16-bit operands: step 5";
}

}  // namespace
}  // namespace cpu

extern const ConvVariant kCpuPerShape{
    .name = "per-shape",
    .step = 11,
    .multithreaded = true,
    .idea = "the technique chosen per shape: direct on the blocked layout, or the implicit GEMM for 1x1s",
    .forward = cpu::per_shape_forward,
    .backward_data = cpu::per_shape_backward_data,
    .backward_weights = cpu::per_shape_backward_weights,
    .detail = cpu::per_shape_detail,
    .ran = cpu::per_shape_ran,
};
}  // namespace flopslab::conv
