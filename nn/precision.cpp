#include "nn/precision.h"

#include "kernels/cpu/gemm/low_precision.h"

namespace flopslab::nn {
namespace {
constexpr std::int64_t kParallelElements = 1 << 15;
}

void SavedTensor::save(const Tensor& x, Precision format, int threads) {
  clear();
  shape_ = x.shape();
  format_ = format;
  if (format == Precision::fp32) {
    full_ = x;
    return;
  }
  const std::int64_t n = x.size();
  half_.resize(std::size_t(n));
  const float* in = x.data();
  std::uint16_t* out = half_.data();
  if (format == Precision::bf16) {
#pragma omp parallel for num_threads(threads) if (n > kParallelElements) schedule(static)
    for (std::int64_t i = 0; i < n; ++i) out[i] = gemm::bf16_from_float(in[i]);
  } else {
#pragma omp parallel for num_threads(threads) if (n > kParallelElements) schedule(static)
    for (std::int64_t i = 0; i < n; ++i) out[i] = gemm::fp16_from_float(in[i]);
  }
}

Tensor SavedTensor::get(int threads) const {
  if (format_ == Precision::fp32) return full_;
  Tensor x = Tensor::uninitialized(shape_);
  const std::int64_t n = x.size();
  const std::uint16_t* in = half_.data();
  float* out = x.data();
  if (format_ == Precision::bf16) {
#pragma omp parallel for num_threads(threads) if (n > kParallelElements) schedule(static)
    for (std::int64_t i = 0; i < n; ++i) out[i] = gemm::float_from_bf16(in[i]);
  } else {
#pragma omp parallel for num_threads(threads) if (n > kParallelElements) schedule(static)
    for (std::int64_t i = 0; i < n; ++i) out[i] = gemm::float_from_fp16(in[i]);
  }
  return x;
}

void SavedTensor::clear() {
  full_ = Tensor();
  half_ = {};  // give the memory back, not just the size
}

void round_to_precision(Tensor& x, Precision format, int threads) {
  if (format == Precision::fp32) return;
  float* v = x.data();
  const std::int64_t n = x.size();
#pragma omp parallel for num_threads(threads) if (n > kParallelElements) schedule(static)
  for (std::int64_t i = 0; i < n; ++i) v[i] = gemm::round_to(format, v[i]);
}

}  // namespace flopslab::nn
