// bf16 and fp16 conversions and the 16-bit activation copies layers keep for backward.
#include "nn/precision.h"

#include <algorithm>

#include "kernels/cpu/gemm/low_precision.h"

namespace flopslab::nn {
namespace {
constexpr std::int64_t kChunk = 1 << 14;
}

void SavedTensor::save(const Tensor& x, Precision format, int threads) {
  clear();
  shape_ = x.shape();
  format_ = format;
  if (format == Precision::fp32) {
    full_ = x;
    return;
  }
  half_.resize(std::size_t(x.size()));
  const float* in = x.data();
  std::uint16_t* out = half_.data();
  for_chunks(x.size(), kChunk, threads,
             [&](std::int64_t begin, std::int64_t end) { gemm::to_bits16(format, in + begin, out + begin, end - begin); });
}

std::uint16_t* SavedTensor::allocate16(const std::vector<std::int64_t>& shape, Precision format) {
  clear();
  shape_ = shape;
  format_ = format;
  std::int64_t n = 1;
  for (std::int64_t d : shape) n *= d;
  half_.resize(std::size_t(n));
  return half_.data();
}

Tensor SavedTensor::get(int threads) const {
  if (format_ == Precision::fp32) return full_;
  Tensor x = Tensor::uninitialized(shape_);
  float* out = x.data();
  for_chunks(x.size(), kChunk, threads, [&](std::int64_t begin, std::int64_t end) { read(begin, end - begin, out + begin); });
  return x;
}

void SavedTensor::read(std::int64_t offset, std::int64_t count, float* out) const {
  if (format_ == Precision::fp32)
    std::copy_n(full_.data() + offset, count, out);
  else
    gemm::from_bits16(format_, half_.data() + offset, out, count);
}

void SavedTensor::clear() {
  full_ = Tensor();
  half_ = {};  // give the memory back, not just the size
}

void round_to_precision(Tensor& x, Precision format, int threads) {
  if (format == Precision::fp32) return;
  float* v = x.data();
  for_chunks(x.size(), kChunk, threads,
             [&](std::int64_t begin, std::int64_t end) { gemm::round_in_place(format, v + begin, end - begin); });
}

}  // namespace flopslab::nn
