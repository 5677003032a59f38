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
  std::int64_t input_image_stride = 0;  // floats from one input image to the next; 0: C * H * W
};

// Where output channel `channel` of image n goes (its P x Q plane).
float* channel_plane(const FusedConv& layer, std::int64_t n, std::int64_t channel);

// Empty when `layer` can run; otherwise what is wrong with it.
std::string fused_conv_problem(const FusedConv& layer);
// How the forward pass is computed. Per shape, `automatic` takes step 8's depthwise planes
// where each filter sees one input channel (a depthwise layer, or a first layer's single
// channel: 64 x 1 x 28 x 28 into 16 filters took 0.09 ms there, 0.22 as a GEMM of k = 9 taps);
// else step 6's direct kernel on the channel-blocked layout where it can run, unless the filter
// is 1x1 (then the GEMM reads the input as it is: nothing to gather) or there are fewer input
// channels than half a vector (then writing the few taps' sums back to NCHW costs more than the
// multiply); otherwise step 5's implicit GEMM with the epilogue.
enum class FusedTechnique { automatic, implicit_gemm, direct_blocked, depthwise };
const char* technique_name(FusedTechnique t);  // "implicit GEMM", "direct on NCHW16c", ...
FusedTechnique choose_technique(const Shape& shape);  // never `automatic`

// x: N x C x H x W. Threads take whole images when there are as many images as threads.
void fused_forward(const FusedConv& layer, const float* x, int threads);
void fused_forward_with(FusedTechnique technique, const FusedConv& layer, const float* x, int threads);
// Step 8's planes with the epilogue (08_depthwise.cpp); depthwise_unsupported says where it runs.
void depthwise_fused_forward(const FusedConv& layer, const float* x, int threads);

// The peer: oneDNN's convolution with the bias in the primitive and the residual add and the
// ReLU as post-ops ("sum", "eltwise"), reordering NCHW to its blocked layout and back (counted
// in the time). The layer's scale must be null (folded into the weights). Throws
// std::logic_error when oneDNN was not built in; onednn_fused_unavailable() says why (null
// when it can run).
void onednn_fused_forward(const FusedConv& layer, const float* x, int threads);
const char* onednn_fused_unavailable();
using FusedConvRunner = void (*)(const FusedConv&, const float*, int);

}  // namespace flopslab::conv::cpu
