// Tensor storage on the CPU or the GPU, shapes, views, copies and device moves, and the CPU
// matmul, broadcasting, reductions and argmax the layers share.
#include "nn/tensor.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>

#include "kernels/cpu/conv/conv_cpu.h"
#include "nn/device.h"
#include "nn/memory.h"

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

Tensor Tensor::uninitialized(std::vector<std::int64_t> shape) {
  Tensor t;
  t.size_ = product(shape);
  t.shape_ = std::move(shape);
  // Counted, cached storage (nn/memory.h): the training loop measures its peak activation
  // memory from the count, and a step's large activations reuse the last step's blocks.
  const std::int64_t count = t.size_;
  t.storage_ = std::shared_ptr<float[]>(memory::allocate_floats(count), [count](float* p) { memory::free_floats(p, count); });
  return t;
}

Tensor Tensor::uninitialized_on(DeviceTag device, std::vector<std::int64_t> shape) {
  if (device == DeviceTag::cpu) return uninitialized(std::move(shape));
  Tensor t;
  t.size_ = product(shape);
  t.shape_ = std::move(shape);
  t.device_ = DeviceTag::cuda;
  const std::int64_t count = t.size_;
  t.storage_ = std::shared_ptr<float[]>(memory::allocate_device_floats(count),
                                        [count](float* p) { memory::free_device_floats(p, count); });
  return t;
}

Tensor Tensor::zeros_on(DeviceTag device, std::vector<std::int64_t> shape) {
  Tensor t = uninitialized_on(device, std::move(shape));
  t.fill(0.0f);
  return t;
}

Tensor Tensor::to(DeviceTag device) const {
  if (device == device_ || !storage_) {
    Tensor same = *this;
    same.device_ = storage_ ? device_ : device;
    return same;
  }
  Tensor out = uninitialized_on(device, shape_);
  copy_floats(device == DeviceTag::cuda ? CopyDirection::host_to_device : CopyDirection::device_to_host, out.data(),
              data(), size_);
  return out;
}

Tensor::Tensor(std::vector<std::int64_t> shape, float fill) : Tensor(uninitialized(std::move(shape))) {
  std::fill_n(storage_.get(), size_, fill);
}

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
  if (storage_) {
    out = uninitialized_on(device_, shape_);
    if (device_ == DeviceTag::cuda)
      copy_floats(CopyDirection::device_to_device, out.data(), data(), size_);
    else
      std::copy_n(storage_.get(), size_, out.storage_.get());
  }
  return out;
}

void Tensor::fill(float value) {
  if (device_ == DeviceTag::cuda)
    device_fill(data(), size_, value);
  else
    std::fill_n(storage_.get(), size_, value);
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
            bool accumulate, gemm::InputFormat inputs) {
  if (a.rank() != 2 || b.rank() != 2) throw std::invalid_argument("matmul: operands must be 2-D");
  const std::int64_t m = transpose_a ? a.dim(1) : a.dim(0), k = transpose_a ? a.dim(0) : a.dim(1);
  const std::int64_t kb = transpose_b ? b.dim(1) : b.dim(0), n = transpose_b ? b.dim(0) : b.dim(1);
  if (k != kb)
    throw std::invalid_argument("matmul: inner dimensions differ (" + a.shape_string() + " and " + b.shape_string() + ")");
  // The packed GEMM reads row-major operands; a transposed operand is copied once (its packing
  // would touch every element anyway), into scratch kept from call to call.
  const float* pa = a.data();
  const float* pb = b.data();
  if (transpose_a) {
    float* at = gemm::packed::reusable_scratch(gemm::packed::kCallerCopy1, m * k);
    conv::cpu::transpose(a.data(), k, m, at, threads);
    pa = at;
  }
  if (transpose_b) {
    float* bt = gemm::packed::reusable_scratch(gemm::packed::kCallerCopy2, k * n);
    conv::cpu::transpose(b.data(), n, k, bt, threads);
    pb = bt;
  }
  if (accumulate) {
    if (c.shape() != std::vector<std::int64_t>{m, n}) throw std::invalid_argument("matmul: accumulate into a wrong shape");
    Tensor product = Tensor::uninitialized({m, n});
    conv::cpu::best_gemm({.shape = {m, n, k}, .a = pa, .lda = k, .b = pb, .ldb = n, .c = product.data(), .ldc = n},
                         threads, inputs);
    for (std::int64_t i = 0; i < m * n; ++i) c[i] += product[i];
    return;
  }
  if (c.shape() != std::vector<std::int64_t>{m, n}) c = Tensor::uninitialized({m, n});
  if (k == 0) {
    c.fill(0);
    return;
  }
  conv::cpu::best_gemm({.shape = {m, n, k}, .a = pa, .lda = k, .b = pb, .ldb = n, .c = c.data(), .ldc = n}, threads,
                       inputs);
}

namespace {
template <class Op>
Tensor broadcast(const Tensor& a, const Tensor& b, Op op, const char* name) {
  if (a.rank() != b.rank())
    throw std::invalid_argument(std::string(name) + ": cannot broadcast " + a.shape_string() + " with " + b.shape_string());
  std::vector<std::int64_t> shape(a.shape().size());
  for (int d = 0; d < a.rank(); ++d) {
    if (a.dim(d) != b.dim(d) && a.dim(d) != 1 && b.dim(d) != 1)
      throw std::invalid_argument(std::string(name) + ": cannot broadcast " + a.shape_string() + " with " +
                                  b.shape_string());
    shape[std::size_t(d)] = std::max(a.dim(d), b.dim(d));
  }
  Tensor out(shape);
  // Walk the output in order, keeping each operand's offset; a size-1 dimension does not move.
  std::vector<std::int64_t> index(shape.size(), 0), stride_a(shape.size()), stride_b(shape.size());
  std::int64_t sa = 1, sb = 1;
  for (int d = a.rank() - 1; d >= 0; --d) {
    stride_a[std::size_t(d)] = a.dim(d) == 1 ? 0 : sa;
    stride_b[std::size_t(d)] = b.dim(d) == 1 ? 0 : sb;
    sa *= a.dim(d);
    sb *= b.dim(d);
  }
  std::int64_t ia = 0, ib = 0;
  for (std::int64_t i = 0; i < out.size(); ++i) {
    out[i] = op(a[ia], b[ib]);
    for (int d = out.rank() - 1; d >= 0; --d) {  // odometer increment
      const std::size_t k = std::size_t(d);
      ia += stride_a[k], ib += stride_b[k];
      if (++index[k] < shape[k]) break;
      ia -= stride_a[k] * shape[k], ib -= stride_b[k] * shape[k];
      index[k] = 0;
    }
  }
  return out;
}
}  // namespace

Tensor add(const Tensor& a, const Tensor& b) { return broadcast(a, b, [](float x, float y) { return x + y; }, "add"); }
Tensor mul(const Tensor& a, const Tensor& b) { return broadcast(a, b, [](float x, float y) { return x * y; }, "mul"); }

Tensor sum(const Tensor& x, int dim) {
  if (dim < 0) dim += x.rank();
  if (dim < 0 || dim >= x.rank()) throw std::invalid_argument("sum: no dimension " + std::to_string(dim) + " in " + x.shape_string());
  std::vector<std::int64_t> shape = x.shape();
  const std::int64_t length = shape[std::size_t(dim)];
  shape[std::size_t(dim)] = 1;
  Tensor out(shape);
  std::int64_t inner = 1;
  for (int d = dim + 1; d < x.rank(); ++d) inner *= x.dim(d);
  const std::int64_t outer = length == 0 ? 0 : x.size() / (length * inner);
  for (std::int64_t o = 0; o < outer; ++o)
    for (std::int64_t i = 0; i < inner; ++i) {
      double s = 0;
      for (std::int64_t l = 0; l < length; ++l) s += x[(o * length + l) * inner + i];
      out[o * inner + i] = float(s);
    }
  return out;
}

Tensor mean(const Tensor& x, int dim) {
  Tensor s = sum(x, dim);
  const float length = float(x.dim(dim));
  for (std::int64_t i = 0; i < s.size(); ++i) s[i] /= length;
  return s;
}

// The three below read a CUDA tensor through a copy to the host (logits: N x classes).
std::int64_t first_non_finite(const Tensor& x) {
  if (x.on_cuda()) return first_non_finite(x.to(DeviceTag::cpu));
  // Block by block without a branch per element, so the compiler vectorises the scan (every
  // training batch goes through it on the training thread: element by element it cost about
  // 1% of an MLP epoch); |v| <= FLT_MAX is false for NaN and both infinities.
  const float* v = x.data();
  const std::int64_t n = x.size();
  constexpr std::int64_t kBlock = 256;
  for (std::int64_t begin = 0; begin < n; begin += kBlock) {
    const std::int64_t end = std::min(n, begin + kBlock);
    bool finite = true;
    for (std::int64_t i = begin; i < end; ++i) finite &= std::abs(v[i]) <= std::numeric_limits<float>::max();
    if (!finite)
      for (std::int64_t i = begin; i < end; ++i)
        if (!std::isfinite(v[i])) return i;
  }
  return -1;
}

std::vector<std::int64_t> argmax_rows(const Tensor& x) {
  if (x.on_cuda()) return argmax_rows(x.to(DeviceTag::cpu));
  const std::int64_t n = x.dim(0), k = x.dim(1);
  std::vector<std::int64_t> out(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) out[std::size_t(i)] = std::max_element(x.data() + i * k, x.data() + (i + 1) * k) - (x.data() + i * k);
  return out;
}

std::vector<std::vector<std::int64_t>> topk_rows(const Tensor& x, int top) {
  if (x.on_cuda()) return topk_rows(x.to(DeviceTag::cpu), top);
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
