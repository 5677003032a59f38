// A convolution's forward pass with what follows it fused in (inference, lesson 18): the
// implicit GEMM of step 5 whose epilogue applies the per-channel scale and shift (bias and a
// folded batch norm), the residual add and the ReLU as each output tile is finished, and
// stores every output channel where the next layer wants it: a channel slice of a
// concatenation, or, for several 1x1 branches stacked into one GEMM, each branch's own tensor.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/conv.h"

namespace flopslab::conv::cpu {

// Output channels [first, first + channels) of image n go to base + n * image_stride, one
// P*Q plane after the other.
struct OutputSlice {
  std::int64_t channels;
  float* base;
  std::int64_t image_stride;  // floats from one image to the next
};

struct FusedConv {
  Shape shape;                      // n is the batch being run
  const float* weight = nullptr;    // K x C/groups x R x S
  const float* scale = nullptr;     // K, or null for 1
  const float* shift = nullptr;     // K, or null for 0
  const float* residual = nullptr;  // added before the ReLU: image n at residual + n * residual_image_stride, K x P x Q
  std::int64_t residual_image_stride = 0;
  bool relu = false;
  std::vector<OutputSlice> outputs;  // in channel order, covering K
};

// Empty when `layer` can run; otherwise what is wrong with it.
std::string fused_conv_problem(const FusedConv& layer);
// x: N x C x H x W. Threads take whole images when there are as many images as threads.
void fused_forward(const FusedConv& layer, const float* x, int threads);

}  // namespace flopslab::conv::cpu
