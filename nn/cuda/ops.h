// The small GPU operations the layers' GPU halves share, on nn::cuda_stream(). Pointers are
// device pointers; matrices are row-major. Built from ops.cu (CUDA builds only).
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/conv.h"
#include "kernels/gemm.h"
#include "nn/device.h"
#include "nn/loss.h"
#include "nn/module.h"

// After each kernel launch in nn/: checks it, and counts it for lesson 20.
#define FLOPSLAB_NN_LAUNCHED() (::flopslab::nn::count_gpu_launches(), FLOPSLAB_CUDA_CHECK_LAUNCH())

namespace flopslab::nn::gpu {

// C[m x n] = A[m x k] B[k x n] through the CUDA ladder's top FP32 rung (own) or cuBLAS
// (vendor); under bf16, through the ladder's tensor-core rung (own) or cuBLASLt (vendor).
void gemm(gemm::Shape shape, const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float* c,
          std::int64_t ldc, GpuBackend backend, Precision precision = Precision::fp32);
// The GPU halves run fp32 and bf16 (bf16: the GEMM layers' operands; the convolutions stay
// float32). Throws std::invalid_argument naming the layer for fp16.
void require_gpu_precision(const Module& layer, const Context& ctx);
// x *= factor, elementwise
void scale(float* x, std::int64_t n, float factor);
// Each tensor *= factor, elementwise, and whether every result is finite (one flag for all,
// read back once): the loss scaler's unscale.
bool scale_and_check_finite(const std::vector<std::pair<float*, std::int64_t>>& tensors, float factor);
// One pass of a convolution (kernels/conv.h's operands: for backward_data x receives dx, for
// backward_weights w receives dW) through the CUDA ladder's implicit GEMM (own) or cuDNN
// (vendor).
void conv_pass(conv::Pass pass, const conv::Operands& op, GpuBackend backend);
// dst[cols x rows] = src[rows x cols]^T
void transpose(const float* src, std::int64_t rows, std::int64_t cols, float* dst);
// y[i][j] += v[j] for a rows x cols y
void add_row_vector(float* y, const float* v, std::int64_t rows, std::int64_t cols);
// out[j] = sum_i x[i][j] (rows x cols), summed in float32 by one thread per column
void column_sums(const float* x, std::int64_t rows, std::int64_t cols, float* out);
// y[i][c][j] += v[c] for an n x c x plane y
void add_channel_vector(float* y, const float* v, std::int64_t n, std::int64_t c, std::int64_t plane);
// out[c] = sum over i and j of x[i][c][j] (n x c x plane), one block per channel, in a
// fixed order (the same bits every run)
void channel_sums(const float* x, std::int64_t n, std::int64_t c, std::int64_t plane, float* out);
// out = a * b, elementwise (out may be a or b)
void multiply(const float* a, const float* b, float* out, std::int64_t n);
// a += b, elementwise
void add_in_place(float* a, const float* b, std::int64_t n);
// The channel shuffle of kernels/cuda/conv (n x c x plane, groups dividing c)
void channel_shuffle(const float* x, float* y, std::int64_t n, std::int64_t c, std::int64_t plane, std::int64_t groups);
// Cross-entropy on N x K logits on the GPU (loss.cu): the loss comes back to the host (a sum
// of N per-row losses in double), the gradient stays on the GPU. Labels are checked on the
// host first, with the CPU version's message.
LossResult cross_entropy(const Tensor& logits, const std::vector<std::int64_t>& labels);
// Its pieces, for a CUDA graph (nn/graph.h), which cannot read anything back mid-capture:
// the labels as int32 on the GPU, checked against `classes` on the host first; the per-sample
// losses into row_loss (N) and the gradient of their mean into grad (N x K), both allocated
// here, nothing read back; and the mean of the per-sample losses, read back.
Tensor labels_on_device(const std::vector<std::int64_t>& labels, std::int64_t classes);
void cross_entropy_rows(const Tensor& logits, const Tensor& device_labels, Tensor& row_loss, Tensor& grad);
double mean_on_host(const Tensor& row_loss);

// One parameter tensor's share of a multi-tensor optimizer step (optim.cu): its pointers and
// element count, and up to five per-tensor constants whose meaning each update gives.
struct UpdateSlot {
  float* value;
  const float* grad;
  float* state0;
  float* state1;
  std::int64_t n;
  float k[5];
};
// All slots in one launch per 48 tensors (the table travels as the kernel's argument).
// Adam: k = {beta1, step size lr / (1 - beta1^t), 1 / sqrt(1 - beta2^t), weight decay,
//            1 - lr * weight decay}; state0 = m, state1 = v.
void adam_update(const std::vector<UpdateSlot>& slots, float beta2, float eps, bool decoupled);
// SGD: k = {lr, weight decay, momentum}; state0 = the momentum buffer.
void sgd_update(const std::vector<UpdateSlot>& slots, bool nesterov);
// RMSprop: k = {lr, weight decay, momentum}; state0 = the square average, state1 = the buffer.
void rmsprop_update(const std::vector<UpdateSlot>& slots, float alpha, float eps);

// Threads per block and blocks for n elements with a grid-stride loop.
inline unsigned blocks_for(std::int64_t n, int threads = 256) {
  const std::int64_t b = (n + threads - 1) / threads;
  return unsigned(b < 1 ? 1 : b > 65535 ? 65535 : b);
}

}  // namespace flopslab::nn::gpu
