// Step 6, the direct convolution on a channel-blocked layout (06_direct_blocked.cpp): the
// forward pass with the fused epilogue of fused.h, for the ladder and for inference.
#pragma once

#include <string>

#include "kernels/cpu/conv/fused.h"

namespace flopslab::conv::cpu {

// NCHW -> N x C/cb x Hp x Wp x cb: cb channels side by side per pixel, the image placed at
// (pad_h, pad_w) in an Hp x Wp plane, zeros around it and in channels past C.
struct BlockedLayout {
  std::int64_t images, channels, h, w, cb, hp, wp, pad_h = 0, pad_w = 0;
  std::int64_t image_stride = 0;  // floats from one input image to the next; 0: channels * h * w
};
void to_blocked(const BlockedLayout& layout, const float* x, float* out, int threads);

// Null when the kernel can run `shape` on this CPU; otherwise why not.
const char* direct_blocked_unsupported(const Shape& shape);
// The vector width and register tiles it uses here.
std::string direct_blocked_detail();
// Floats per vector, the channel block: 16 (AVX-512), 8 (AVX2), 0 (neither).
int direct_blocked_vector_floats();
// `layer` as fused_forward takes it (fused_conv_problem must be empty, and
// direct_blocked_unsupported null).
void direct_blocked_forward(const FusedConv& layer, const float* x, int threads);
// The input gradient as the forward convolution of dY with the flipped filters (stride 1):
// null when it can run `shape`, else why not; op.x receives dX.
const char* direct_blocked_backward_data_unsupported(const Shape& shape);
void direct_blocked_backward_data(const Operands& op, int threads);

}  // namespace flopslab::conv::cpu
