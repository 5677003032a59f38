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
// mixed precision (half the bytes), expanded to float32 when the backward reads it.
class SavedTensor {
 public:
  void save(const Tensor& x, Precision format, int threads);
  Tensor get(int threads) const;
  void clear();
  bool empty() const { return full_.empty() && half_.empty(); }
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

}  // namespace flopslab::nn
