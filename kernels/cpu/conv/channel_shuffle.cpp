// Channel shuffle's CPU forward and backward: a transpose of the g x C/g channel grid.
#include "kernels/cpu/conv/channel_shuffle.h"

#include <cstring>

namespace flopslab::conv {

std::string channel_shuffle_problem(std::int64_t channels, std::int64_t groups) {
  if (channels < 1) return "channels must be at least 1, got " + std::to_string(channels);
  if (groups < 1) return "groups must be at least 1, got " + std::to_string(groups);
  if (channels % groups != 0)
    return "groups " + std::to_string(groups) + " does not divide the " + std::to_string(channels) + " channels";
  return "";
}

void channel_shuffle(const float* x, float* y, std::int64_t n, std::int64_t c, std::int64_t plane,
                     std::int64_t groups, int threads) {
  const std::int64_t per_group = c / groups;
  // Each output plane is one contiguous copy; threads take runs of consecutive output planes
  // so their writes stream.
#pragma omp parallel for schedule(static) num_threads(threads)
  for (std::int64_t out = 0; out < n * c; ++out) {
    const std::int64_t image = out / c, channel = out % c;
    const std::int64_t source = channel % groups * per_group + channel / groups;
    std::memcpy(y + out * plane, x + (image * c + source) * plane, std::size_t(plane) * sizeof(float));
  }
}

void channel_shuffle_backward(const float* dy, float* dx, std::int64_t n, std::int64_t c, std::int64_t plane,
                              std::int64_t groups, int threads) {
  channel_shuffle(dy, dx, n, c, plane, c / groups, threads);
}

}  // namespace flopslab::conv
