// Cross-entropy's GPU half: one thread per sample (K, the classes, is small: 10 here), the
// log-softmax with its maximum subtracted so that nothing overflows, as loss.cpp does.
// (No fmt in .cu files: nvcc's front end rejects fmt 9's compile-time format checks.)
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

#include "kernels/cuda/cuda_check.h"
#include "nn/cuda/ops.h"
#include "nn/device.h"

namespace flopslab::nn::gpu {
namespace {

// loss[i] = logsumexp(x_i) - x_i[y_i];  grad_i = (softmax(x_i) - onehot(y_i)) / N
__global__ void cross_entropy_kernel(const float* __restrict logits, const int* __restrict labels, std::int64_t n,
                                     std::int64_t k, float* __restrict loss, float* __restrict grad) {
  const std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x;
  if (i >= n) return;
  const float* row = logits + i * k;
  float top = row[0];
  for (std::int64_t j = 1; j < k; ++j) top = fmaxf(top, row[j]);
  double sum = 0;
  for (std::int64_t j = 0; j < k; ++j) sum += exp(double(row[j] - top));
  const int y = labels[i];
  loss[i] = float(log(sum) + double(top) - double(row[y]));
  const double inv_n = 1.0 / double(n);
  for (std::int64_t j = 0; j < k; ++j) {
    const double p = exp(double(row[j] - top)) / sum;
    grad[i * k + j] = float((p - (j == y ? 1.0 : 0.0)) * inv_n);
  }
}

}  // namespace

Tensor labels_on_device(const std::vector<std::int64_t>& labels, std::int64_t classes) {
  const std::int64_t n = std::int64_t(labels.size());
  // The labels go over as int32 in a float tensor's storage (4 bytes each either way).
  Tensor staged = Tensor::uninitialized({n});
  int* staged_labels = reinterpret_cast<int*>(staged.data());
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t y = labels[std::size_t(i)];
    if (y < 0 || y >= classes)
      throw std::invalid_argument("cross_entropy: label " + std::to_string(y) + " outside [0, " +
                                  std::to_string(classes) + ")");
    staged_labels[i] = int(y);
  }
  return staged.to(DeviceTag::cuda);
}

void cross_entropy_rows(const Tensor& logits, const Tensor& device_labels, Tensor& row_loss, Tensor& grad) {
  if (logits.rank() != 2 || logits.dim(0) != device_labels.size())
    throw std::invalid_argument("cross_entropy: logits " + logits.shape_string() + " and " +
                                std::to_string(device_labels.size()) + " labels");
  const std::int64_t n = logits.dim(0), k = logits.dim(1);
  row_loss = Tensor::uninitialized_on(DeviceTag::cuda, {n});
  grad = Tensor::uninitialized_on(DeviceTag::cuda, logits.shape());
  if (n == 0) return;
  cross_entropy_kernel<<<unsigned((n + 127) / 128), 128, 0, static_cast<cudaStream_t>(cuda_stream())>>>(
      logits.data(), reinterpret_cast<const int*>(device_labels.data()), n, k, row_loss.data(), grad.data());
  FLOPSLAB_NN_LAUNCHED();
}

double mean_on_host(const Tensor& row_loss) {
  const Tensor host = row_loss.to(DeviceTag::cpu);
  double sum = 0;
  for (std::int64_t i = 0; i < host.size(); ++i) sum += host[i];
  return host.size() == 0 ? 0.0 : sum / double(host.size());
}

LossResult cross_entropy(const Tensor& logits, const std::vector<std::int64_t>& labels) {
  if (logits.rank() != 2 || logits.dim(0) != std::int64_t(labels.size()))
    throw std::invalid_argument("cross_entropy: logits " + logits.shape_string() + " and " +
                                std::to_string(labels.size()) + " labels");
  const Tensor device_labels = labels_on_device(labels, logits.dim(1));
  Tensor row_loss;
  LossResult out;
  cross_entropy_rows(logits, device_labels, row_loss, out.grad);
  out.loss = mean_on_host(row_loss);
  return out;
}

}  // namespace flopslab::nn::gpu
