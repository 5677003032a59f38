// Channel shuffle on the GPU (the permutation of kernels/cpu/conv/channel_shuffle.h): output
// channel ch of each image is input channel (ch % groups) * (C / groups) + ch / groups. The
// backward pass is the same call with C / groups groups. Pure data movement: its yardstick is
// a device-to-device copy of the same bytes.
#pragma once

#include <cstdint>

namespace flopslab::conv::cuda {

// x and y are device pointers to n x c x plane floats; groups divides c. Launches on `stream`
// (a cudaStream_t, null for the default stream).
void channel_shuffle(const float* x, float* y, std::int64_t n, std::int64_t c, std::int64_t plane, std::int64_t groups,
                     void* stream);

}  // namespace flopslab::conv::cuda
