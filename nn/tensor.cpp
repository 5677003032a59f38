#include "nn/tensor.h"

#include <algorithm>
#include <numeric>
#include <stdexcept>

#include "kernels/cpu/conv/conv_cpu.h"

namespace flopslab::nn {
namespace {
std::int64_t product(const std::vector<std::int64_t>& shape) {
  std::int64_t n = 1;
  for (std::int64_t d : shape) {
    if (d < 0) throw std::invalid_argument("tensor: negative dimension " + std::to_string(d));
    n *= d;
  }
  return n;
}
}  // namespace

Tensor::Tensor(std::vector<std::int64_t> shape, float fill)
    : storage_(std::make_shared<std::vector<float>>(std::size_t(product(shape)), fill)),
      shape_(std::move(shape)),
      size_(product(shape_)) {}

Tensor Tensor::view(std::vector<std::int64_t> shape) const {
  std::int64_t known = 1, inferred = -1;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      if (inferred >= 0) throw std::invalid_argument("tensor view: more than one -1 in the shape");
      inferred = std::int64_t(i);
    } else {
      known *= shape[i];
    }
  }
  if (inferred >= 0 && known > 0) shape[std::size_t(inferred)] = size_ / known;
  Tensor out = *this;
  out.shape_ = shape;
  if (product(shape) != size_)
    throw std::invalid_argument("tensor view: cannot view " + shape_string() + " as " + out.shape_string());
  return out;
}

Tensor Tensor::clone() const {
  Tensor out = *this;
  if (storage_) out.storage_ = std::make_shared<std::vector<float>>(*storage_);
  return out;
}

void Tensor::fill(float value) {
  if (storage_) std::fill(storage_->begin(), storage_->end(), value);
}

std::string Tensor::shape_string() const {
  std::string out;
  for (std::size_t i = 0; i < shape_.size(); ++i) {
    if (i > 0) out.push_back('x');
    out.append(std::to_string(shape_[i]));
  }
  return out.empty() ? "scalar" : out;
}

void matmul(const Tensor& a, bool transpose_a, const Tensor& b, bool transpose_b, Tensor& c, int threads,
            bool accumulate) {
  if (a.rank() != 2 || b.rank() != 2) throw std::invalid_argument("matmul: operands must be 2-D");
  const std::int64_t m = transpose_a ? a.dim(1) : a.dim(0), k = transpose_a ? a.dim(0) : a.dim(1);
  const std::int64_t kb = transpose_b ? b.dim(1) : b.dim(0), n = transpose_b ? b.dim(0) : b.dim(1);
  if (k != kb)
    throw std::invalid_argument("matmul: inner dimensions differ (" + a.shape_string() + " and " + b.shape_string() + ")");
  // The packed GEMM reads row-major operands; a transposed operand is copied once (its packing
  // would touch every element anyway).
  std::vector<float> at, bt;
  const float* pa = a.data();
  const float* pb = b.data();
  if (transpose_a) {
    at.resize(std::size_t(m * k));
    conv::cpu::transpose(a.data(), k, m, at.data());
    pa = at.data();
  }
  if (transpose_b) {
    bt.resize(std::size_t(k * n));
    conv::cpu::transpose(b.data(), n, k, bt.data());
    pb = bt.data();
  }
  if (accumulate) {
    if (c.shape() != std::vector<std::int64_t>{m, n}) throw std::invalid_argument("matmul: accumulate into a wrong shape");
    Tensor product({m, n});
    conv::cpu::best_gemm({.shape = {m, n, k}, .a = pa, .lda = k, .b = pb, .ldb = n, .c = product.data(), .ldc = n},
                         threads);
    for (std::int64_t i = 0; i < m * n; ++i) c[i] += product[i];
    return;
  }
  if (c.shape() != std::vector<std::int64_t>{m, n}) c = Tensor({m, n});
  if (k == 0) {
    c.fill(0);
    return;
  }
  conv::cpu::best_gemm({.shape = {m, n, k}, .a = pa, .lda = k, .b = pb, .ldb = n, .c = c.data(), .ldc = n}, threads);
}

std::vector<std::int64_t> argmax_rows(const Tensor& x) {
  const std::int64_t n = x.dim(0), k = x.dim(1);
  std::vector<std::int64_t> out(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) out[std::size_t(i)] = std::max_element(x.data() + i * k, x.data() + (i + 1) * k) - (x.data() + i * k);
  return out;
}

std::vector<std::vector<std::int64_t>> topk_rows(const Tensor& x, int top) {
  const std::int64_t n = x.dim(0), k = x.dim(1);
  std::vector<std::vector<std::int64_t>> out(static_cast<std::size_t>(n));
  std::vector<std::int64_t> order(static_cast<std::size_t>(k));
  for (std::int64_t i = 0; i < n; ++i) {
    std::iota(order.begin(), order.end(), 0);
    const float* row = x.data() + i * k;
    const std::size_t keep = std::size_t(std::min<std::int64_t>(top, k));
    std::partial_sort(order.begin(), order.begin() + std::ptrdiff_t(keep), order.end(),
                      [&](std::int64_t a, std::int64_t b) { return row[a] > row[b] || (row[a] == row[b] && a < b); });
    out[std::size_t(i)].assign(order.begin(), order.begin() + std::ptrdiff_t(keep));
  }
  return out;
}

Tensor sum_rows(const Tensor& x) {
  const std::int64_t n = x.dim(0), k = x.dim(1);
  Tensor out({k});
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < k; ++j) out[j] += x[i * k + j];
  return out;
}

}  // namespace flopslab::nn
