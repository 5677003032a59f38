// The training stack's tensor: float32, contiguous, row-major, with a shape and a device tag.
// Storage is shared, so view() reshapes without copying (as PyTorch's view on a contiguous
// tensor). A CUDA tensor's data() is a device pointer: only GPU kernels and copies
// (nn/device.h) may touch it, and operator[] must not be used on it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kernels/gemm.h"

namespace flopslab::nn {

enum class DeviceTag { cpu, cuda };

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::vector<std::int64_t> shape, float fill = 0.0f);
  // Storage left unwritten, for outputs a layer overwrites in full (saves a pass over memory).
  static Tensor uninitialized(std::vector<std::int64_t> shape);
  // The same, on `device` (CUDA storage from the cache in nn/memory.h).
  static Tensor uninitialized_on(DeviceTag device, std::vector<std::int64_t> shape);
  // zeros on `device`
  static Tensor zeros_on(DeviceTag device, std::vector<std::int64_t> shape);

  const std::vector<std::int64_t>& shape() const { return shape_; }
  int rank() const { return int(shape_.size()); }
  std::int64_t dim(int i) const { return shape_.at(std::size_t(i < 0 ? i + rank() : i)); }
  std::int64_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  DeviceTag device() const { return device_; }

  float* data() { return storage_.get(); }
  const float* data() const { return storage_.get(); }
  float& operator[](std::int64_t i) { return storage_[i]; }
  float operator[](std::int64_t i) const { return storage_[i]; }

  // The same storage under another shape of the same size; one dimension may be -1 (inferred).
  Tensor view(std::vector<std::int64_t> shape) const;
  Tensor clone() const;  // a deep copy, on the same device
  // This tensor on `device`: itself when it is there already, else a copy.
  Tensor to(DeviceTag device) const;
  bool on_cuda() const { return device_ == DeviceTag::cuda; }
  void fill(float value);
  bool same_shape(const Tensor& other) const { return shape_ == other.shape_; }
  // No other tensor (or view) shares this storage: a backward pass handed such a dy may write
  // its input gradient over it, element by element as it reads it, instead of filling a new one.
  bool sole_owner() const { return storage_ != nullptr && storage_.use_count() == 1; }
  std::string shape_string() const;  // "64x1x28x28"

 private:
  std::shared_ptr<float[]> storage_;
  std::vector<std::int64_t> shape_;
  std::int64_t size_ = 0;
  DeviceTag device_ = DeviceTag::cpu;
};

// c = op(a) * op(b), op = transpose when asked, through the GEMM ladder's best rung (kernels/).
// a and b are 2-D; c is resized to the product's shape. accumulate adds into c instead. With
// 16-bit `inputs` the operands are rounded to that format and the products summed in float32
// (step 6 of the ladder for bf16).
void matmul(const Tensor& a, bool transpose_a, const Tensor& b, bool transpose_b, Tensor& c, int threads,
            bool accumulate = false, gemm::InputFormat inputs = gemm::InputFormat::fp32);

// Elementwise a + b and a * b with broadcasting: equal ranks, each dimension equal or 1 in one
// of the two (a bias of shape 1 x K against N x K, a per-channel scale 1 x C x 1 x 1 against
// N x C x H x W). Throws naming both shapes otherwise.
Tensor add(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
// Sum and mean over one dimension, which is kept with size 1 (as PyTorch's keepdim=True).
Tensor sum(const Tensor& x, int dim);
Tensor mean(const Tensor& x, int dim);
// The index of the first non-finite element, or -1.
std::int64_t first_non_finite(const Tensor& x);

// Reductions and indexing the training loop needs.
std::vector<std::int64_t> argmax_rows(const Tensor& logits);                     // N x K -> N
std::vector<std::vector<std::int64_t>> topk_rows(const Tensor& logits, int k);  // best first
Tensor sum_rows(const Tensor& x);  // N x K -> K (sum over the batch)

}  // namespace flopslab::nn
