// Channel shuffle (ShuffleNet): with g groups of C/g channels, view the channels as a g x C/g
// matrix, transpose it and flatten, so that output channel i*g + j is input channel
// j*(C/g) + i. After a grouped convolution each group saw only its own channels; the shuffle
// hands every next group one channel from each previous group. No arithmetic at all: the
// cost is moving N*C*H*W floats, so its speed is memory bandwidth.
#pragma once

#include <cstdint>
#include <string>

namespace flopslab::conv {

// Empty when groups divides channels (both >= 1); otherwise a one-line reason.
std::string channel_shuffle_problem(std::int64_t channels, std::int64_t groups);

// x, y: N x C x plane (plane = H*W floats); x and y must not overlap.
void channel_shuffle(const float* x, float* y, std::int64_t n, std::int64_t c, std::int64_t plane,
                     std::int64_t groups, int threads);
// The gradient goes back through the inverse permutation: the transpose of a g x C/g matrix
// is undone by transposing the C/g x g result, i.e. a shuffle with C/g groups.
void channel_shuffle_backward(const float* dy, float* dx, std::int64_t n, std::int64_t c, std::int64_t plane,
                              std::int64_t groups, int threads);

}  // namespace flopslab::conv
