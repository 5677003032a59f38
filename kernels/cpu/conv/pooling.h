// Max and average pooling over NCHW planes, forward and backward. Max pooling's forward
// records where each maximum came from, which is all its backward needs.
#pragma once

#include <cstdint>
#include <string>

namespace flopslab::conv {

struct PoolShape {
  std::int64_t n = 1, c = 1, h = 1, w = 1;
  std::int64_t kernel_h = 2, kernel_w = 2;
  std::int64_t stride_h = 2, stride_w = 2;
  std::int64_t pad_h = 0, pad_w = 0;

  std::int64_t p() const { return (h + 2 * pad_h - kernel_h) / stride_h + 1; }
  std::int64_t q() const { return (w + 2 * pad_w - kernel_w) / stride_w + 1; }
  std::int64_t x_size() const { return n * c * h * w; }
  std::int64_t y_size() const { return n * c * p() * q(); }
};

// Empty when valid. As in PyTorch, padding may be at most half the kernel, so every window
// holds at least one real pixel.
std::string pool_problem(const PoolShape& shape);

// argmax[i] is the index within its H x W plane of the input that produced y[i]; null in
// evaluation, which needs only y (a faster path for 2x2).
void max_pool_forward(const PoolShape& shape, const float* x, float* y, std::int32_t* argmax, int threads);
// dx = 0, then each dy goes to the input its window's maximum came from (ties: the first).
void max_pool_backward(const PoolShape& shape, const float* dy, const std::int32_t* argmax, float* dx, int threads);

// Average over the kernel_h x kernel_w window, padding counted as zeros (PyTorch's default,
// count_include_pad=True): every window divides by kernel_h * kernel_w.
void avg_pool_forward(const PoolShape& shape, const float* x, float* y, int threads);
void avg_pool_backward(const PoolShape& shape, const float* dy, float* dx, int threads);

}  // namespace flopslab::conv
