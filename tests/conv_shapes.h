// The convolution shapes every implementation is tested on, CPU and GPU alike: stride,
// padding (symmetric and not), dilation, groups, depthwise, 1x1, 1x7/7x1, non-square images,
// odd sizes and GEMM tile edges.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/conv.h"

namespace flopslab::test {

inline conv::Shape shape(std::int64_t n, std::int64_t c, std::int64_t h, std::int64_t w, std::int64_t k, std::int64_t r,
                  std::int64_t s, std::int64_t stride_h = 1, std::int64_t stride_w = 1, std::int64_t pad_h = 0,
                  std::int64_t pad_w = 0, std::int64_t dil_h = 1, std::int64_t dil_w = 1, std::int64_t groups = 1) {
  return {.n = n, .c = c, .h = h, .w = w, .k = k, .r = r, .s = s, .stride_h = stride_h, .stride_w = stride_w,
          .pad_h = pad_h, .pad_w = pad_w, .dilation_h = dil_h, .dilation_w = dil_w, .groups = groups};
}

inline const std::vector<conv::Shape> kShapes = {
    shape(1, 1, 1, 1, 1, 1, 1),                        // the smallest
    shape(2, 3, 9, 7, 5, 3, 3, 1, 1, 1, 1),            // non-square, odd channels, padded
    shape(3, 4, 11, 13, 6, 3, 3, 2, 2, 1, 1),          // stride 2
    shape(2, 5, 12, 10, 7, 3, 3, 1, 1, 2, 2, 2, 2),    // dilation 2
    shape(2, 6, 8, 9, 9, 3, 2, 2, 1, 1, 0, 1, 3, 3),   // groups 3, everything asymmetric
    shape(2, 8, 10, 10, 8, 3, 3, 1, 1, 1, 1, 1, 1, 8), // depthwise
    shape(2, 16, 7, 9, 24, 1, 1),                      // 1x1
    shape(2, 12, 6, 6, 8, 1, 1, 1, 1, 0, 0, 1, 1, 4),  // grouped 1x1
    shape(1, 4, 14, 14, 6, 1, 7, 1, 1, 0, 3),          // 1x7
    shape(1, 4, 14, 14, 6, 7, 1, 1, 1, 3, 0),          // 7x1
    shape(2, 3, 5, 5, 4, 5, 5, 3, 3, 4, 4),            // filter larger than the stride, heavy padding
    shape(1, 37, 15, 17, 33, 3, 3, 1, 1, 1, 1),        // GEMM edges: 33 filters, 37*9 taps
    shape(2, 2, 20, 21, 6, 3, 3, 1, 1, 1, 1),          // rows past one vector with a tail (step 7 reads dY in place)
    shape(2, 32, 9, 11, 48, 3, 3, 1, 1, 1, 1, 1, 1, 4), // groups of 8 channels, 12 filters: blocks span groups
    shape(1, 48, 7, 8, 24, 3, 3, 1, 1, 1, 1, 1, 1, 3),  // groups of 16 channels, 8 filters
    shape(2, 4, 9, 21, 4, 3, 3, 1, 1, 1, 1, 1, 1, 4),   // depthwise, rows past one vector with a tail
    shape(1, 2, 5, 45, 2, 3, 3, 1, 1, 1, 1, 1, 1, 2),   // depthwise, rows of 45: the last vector overlaps
    // Step 6's full-width tiles skip the pixels that read padding at each filter column: tiles
    // with padding at both ends, for 16-float (2 x 14, 1 x 28) and 8-float (1 x 12) vectors.
    shape(1, 16, 4, 14, 32, 3, 7, 1, 1, 1, 3),
    shape(1, 16, 3, 28, 16, 1, 7, 1, 1, 0, 3),
    shape(1, 8, 3, 12, 8, 1, 5, 1, 1, 0, 2),
};

}  // namespace flopslab::test
