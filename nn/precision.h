// Mixed precision in the training stack: 16-bit copies of the activations a layer keeps for
// its backward, and rounding of a GEMM layer's output to the activation format. The format
// conversions themselves are the kernels' (kernels/cpu/gemm/low_precision.h).
#pragma once

#include <cstdint>
#include <vector>

#include "nn/memory.h"
#include "nn/module.h"

namespace flopslab::nn {

// What a layer keeps for its backward: the tensor itself in float32, or a 16-bit copy under
// mixed precision (half the bytes). A backward reads the copy a piece at a time (read()), so
// that no full float32 copy exists again; get() makes one where a kernel needs it whole.
class SavedTensor {
 public:
  void save(const Tensor& x, Precision format, int threads);
  // For a layer that computes the values itself: a 16-bit buffer of this shape to fill, in
  // `format` (not fp32).
  std::uint16_t* allocate16(const std::vector<std::int64_t>& shape, Precision format);
  Tensor get(int threads) const;
  // Elements [offset, offset + count) as float32 into out.
  void read(std::int64_t offset, std::int64_t count, float* out) const;
  void clear();
  bool empty() const { return full_.empty() && half_.empty(); }
  bool is_16bit() const { return !half_.empty(); }
  const float* floats() const { return full_.data(); }  // the float32 tensor (when not 16-bit)
  const std::vector<std::int64_t>& shape() const { return shape_; }

 private:
  Tensor full_;
  std::vector<std::uint16_t, memory::CountingAllocator<std::uint16_t>> half_;
  std::vector<std::int64_t> shape_;
  Precision format_ = Precision::fp32;
};

// Rounds every element to `format` in place (nothing for fp32): the output of a GEMM layer is
// an activation in that format.
void round_to_precision(Tensor& x, Precision format, int threads);

// Runs f(begin, end) over [0, n) in chunks of at most `chunk`, on up to `threads` threads.
template <class F>
void for_chunks(std::int64_t n, std::int64_t chunk, int threads, F f) {
  const std::int64_t chunks = (n + chunk - 1) / chunk;
#pragma omp parallel for num_threads(threads) if (chunks > 1) schedule(static)
  for (std::int64_t c = 0; c < chunks; ++c) f(c * chunk, std::min(n, (c + 1) * chunk));
}

}  // namespace flopslab::nn
