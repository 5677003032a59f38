// Pieces the CPU convolution variants share: index ranges, im2col and its inverse, and the
// row readers that let the packed GEMM read an im2col matrix that is never stored.
#pragma once

#include <algorithm>
#include <cstdint>

#include "kernels/conv.h"
#include "kernels/registry.h"
#include "kernels/cpu/gemm/packed.h"

namespace flopslab::conv::cpu {

// The outputs o in [0, out_len) whose input index o*stride - pad + offset lies in [0, in_len):
// one interval, so inner loops run without bounds checks.
struct Range {
  std::int64_t begin, end;
};
inline Range valid_outputs(std::int64_t out_len, std::int64_t in_len, std::int64_t stride, std::int64_t pad,
                           std::int64_t offset) {
  // o*stride >= pad - offset  and  o*stride <= in_len - 1 + pad - offset
  const std::int64_t lo_num = pad - offset, hi_num = in_len - 1 + pad - offset;
  std::int64_t begin = lo_num <= 0 ? 0 : (lo_num + stride - 1) / stride;
  std::int64_t end = hi_num < 0 ? 0 : hi_num / stride + 1;
  begin = std::min(begin, out_len);
  end = std::clamp(end, begin, out_len);
  return {begin, end};
}

// A 1x1 filter at stride 1 without padding: the image's planes already are the im2col matrix.
inline bool is_plain_1x1(const Shape& s) {
  return s.r == 1 && s.s == 1 && s.stride_h == 1 && s.stride_w == 1 && s.pad_h == 0 && s.pad_w == 0;
}

// The im2col matrix of one image and one group: (C/g * R * S) rows, one per filter tap
// (c, r, s), by (P * Q) columns, one per output pixel. x points at the group's first channel.
void im2col(const Shape& shape, const float* x, float* col, int threads);
// The inverse scatter: x[c][ih][iw] += col[(c, r, s)][(p, q)] for every tap; x is not cleared.
// With a band [p_begin, p_end) of output rows, col holds only those rows' columns
// ((p_end - p_begin) * Q per tap) and only their contributions are added.
void col2im(const Shape& shape, const float* col, float* x, int threads, std::int64_t p_begin = 0,
            std::int64_t p_end = -1);

// Row readers for gemm_packed_parallel: rows of the im2col matrix (rows = taps, columns =
// pixels) and of its transpose (rows = pixels, columns = taps), read straight from the image.
// x: the group's first channel.
gemm::packed::BRowReader im2col_rows(const Shape& shape, const float* x);
gemm::packed::BRowReader im2col_transposed_rows(const Shape& shape, const float* x);

// run(n, threads) for every image n: whole images per thread when there are at least as many
// images as threads (each run gets 1 thread), otherwise one image after another, each with
// `threads_per_image` threads (0: all of them).
template <class PerImage>
void over_images(std::int64_t images, int threads, const PerImage& run, int threads_per_image = 0) {
  if (images >= threads && threads > 1) {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (std::int64_t n = 0; n < images; ++n) run(n, 1);
  } else {
    for (std::int64_t n = 0; n < images; ++n) run(n, threads_per_image > 0 ? threads_per_image : threads);
  }
}

// dst[j][i] = src[i][j] for a rows x cols matrix; on up to `threads` threads when it is large.
void transpose(const float* src, std::int64_t rows, std::int64_t cols, float* dst, int threads = 1);

// The packed GEMM, micro-kernel and blocking of the ladder's best rung on this CPU; with 16-bit
// `inputs`, step 6's mixed precision (operands rounded, float32 sums).
void best_gemm(const gemm::Operands& op, int threads, gemm::InputFormat inputs = gemm::InputFormat::fp32);
void best_gemm(gemm::Shape shape, const float* a, std::int64_t lda, const gemm::packed::BRowReader& b, float* c,
               std::int64_t ldc, int threads, gemm::InputFormat inputs = gemm::InputFormat::fp32);
void best_gemm(gemm::Shape shape, const gemm::packed::ARowReader& a, const gemm::packed::BRowReader& b, float* c,
               std::int64_t ldc, int threads, gemm::InputFormat inputs = gemm::InputFormat::fp32);

// The GEMM formulation of backward_data shared by the GEMM-based variants: per image and
// group, col = W_g^T * dY_g, then col2im into dx.
void backward_data_im2col(const Operands& op, int threads, gemm::InputFormat inputs = gemm::InputFormat::fp32);

// Step 7 (07_direct_weight_grad.cpp): dW without a GEMM; null when it can run `shape`, else why not.
const char* direct_weight_grad_unsupported(const Shape& shape);
void direct_weight_grad(const Operands& op, const RunContext& ctx);

// Step 8 (08_depthwise.cpp): one input channel per group; null when it can run `shape`.
const char* depthwise_unsupported(const Shape& shape);
void depthwise_forward(const Operands& op, const RunContext& ctx);
const char* depthwise_backward_data_unsupported(const Shape& shape);
void depthwise_backward_data(const Operands& op, const RunContext& ctx);
void depthwise_backward_weights(const Operands& op, const RunContext& ctx);
// Whether that weight gradient runs its rolling 3x3 kernel (register_tiles.h) on `shape`.
bool depthwise_weight_grad_rolls(const Shape& shape);

}  // namespace flopslab::conv::cpu
