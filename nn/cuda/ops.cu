// The GPU halves' shared kernels: fills, element-wise updates, reductions and the bf16 copies.
#include "nn/cuda/ops.h"

#include <cuda_runtime.h>

#include <stdexcept>

#include "kernels/cuda/conv/channel_shuffle_cuda.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/registry.h"
#include "nn/device.h"

namespace flopslab::nn::gpu {
namespace {

cudaStream_t stream() { return static_cast<cudaStream_t>(cuda_stream()); }

// 32 x 32 tiles through shared memory (padded by one column against bank conflicts), so
// both the reads and the writes are coalesced.
__global__ void transpose_kernel(const float* __restrict src, std::int64_t rows, std::int64_t cols,
                                 float* __restrict dst) {
  __shared__ float tile[32][33];
  const std::int64_t r0 = std::int64_t(blockIdx.y) * 32, c0 = std::int64_t(blockIdx.x) * 32;
  for (int dy = threadIdx.y; dy < 32; dy += blockDim.y) {
    const std::int64_t r = r0 + dy, c = c0 + threadIdx.x;
    if (r < rows && c < cols) tile[dy][threadIdx.x] = src[r * cols + c];
  }
  __syncthreads();
  for (int dy = threadIdx.y; dy < 32; dy += blockDim.y) {
    const std::int64_t c = c0 + dy, r = r0 + threadIdx.x;  // dst row c, column r
    if (c < cols && r < rows) dst[c * rows + r] = tile[threadIdx.x][dy];
  }
}

__global__ void add_row_vector_kernel(float* __restrict y, const float* __restrict v, std::int64_t rows,
                                      std::int64_t cols) {
  const std::int64_t n = rows * cols;
  for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < n;
       i += std::int64_t(gridDim.x) * blockDim.x)
    y[i] += v[i % cols];
}

__global__ void column_sums_kernel(const float* __restrict x, std::int64_t rows, std::int64_t cols,
                                   float* __restrict out) {
  const std::int64_t j = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x;
  if (j >= cols) return;
  float sum = 0;
  for (std::int64_t i = 0; i < rows; ++i) sum += x[i * cols + j];  // neighbouring threads read neighbours
  out[j] = sum;
}


__global__ void add_channel_vector_kernel(float* __restrict y, const float* __restrict v, std::int64_t total,
                                          std::int64_t c, std::int64_t plane) {
  for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < total;
       i += std::int64_t(gridDim.x) * blockDim.x)
    y[i] += v[(i / plane) % c];
}

// Block `ch` sums channel ch: each thread a strided share in float, then a tree in shared
// memory (double) with a fixed shape, so the result does not depend on timing.
__global__ void channel_sums_kernel(const float* __restrict x, std::int64_t n, std::int64_t c, std::int64_t plane,
                                    float* __restrict out) {
  __shared__ double partial[256];
  const std::int64_t ch = blockIdx.x, count = n * plane;
  float sum = 0;
  for (std::int64_t e = threadIdx.x; e < count; e += blockDim.x) sum += x[(e / plane * c + ch) * plane + e % plane];
  partial[threadIdx.x] = sum;
  __syncthreads();
  for (int half = blockDim.x / 2; half > 0; half /= 2) {
    if (threadIdx.x < half) partial[threadIdx.x] += partial[threadIdx.x + half];
    __syncthreads();
  }
  if (threadIdx.x == 0) out[ch] = float(partial[0]);
}

__global__ void multiply_kernel(const float* a, const float* b, float* out, std::int64_t n) {
  for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < n;
       i += std::int64_t(gridDim.x) * blockDim.x)
    out[i] = a[i] * b[i];
}

__global__ void scale_kernel(float* x, std::int64_t n, float factor, int* non_finite) {
  for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < n;
       i += std::int64_t(gridDim.x) * blockDim.x) {
    const float v = x[i] * factor;
    x[i] = v;
    if (non_finite != nullptr && !isfinite(v)) *non_finite = 1;  // any writer will do
  }
}

__global__ void add_kernel(float* a, const float* b, std::int64_t n) {
  for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < n;
       i += std::int64_t(gridDim.x) * blockDim.x)
    a[i] += b[i];
}

const ConvVariant& conv_variant(GpuBackend backend) {
  const char* name = backend == GpuBackend::own ? "cuda-implicit-gemm" : "cudnn";
  const ConvVariant* v = find_conv_variant(name);
  if (v == nullptr || !v->available())
    throw std::runtime_error(std::string("the GPU convolution '") + name + "' is not in this build" +
                             (v != nullptr && v->unavailable ? std::string(": ") + v->unavailable() : ""));
  return *v;
}

const GemmVariant& gemm_variant(GpuBackend backend, Precision precision) {
  const bool bf16 = precision == Precision::bf16;
  const char* name = backend == GpuBackend::own ? (bf16 ? "cuda-wmma-bf16" : "cuda-shape-tiled")
                                                : (bf16 ? "cublaslt-bf16" : "cublas");
  const GemmVariant* v = find_gemm_variant(name);
  if (v == nullptr || !v->available())
    throw std::runtime_error(std::string("the GPU GEMM '") + name + "' is not in this build" +
                             (v != nullptr && v->unavailable ? std::string(": ") + v->unavailable() : ""));
  return *v;
}

}  // namespace

void gemm(gemm::Shape shape, const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float* c,
          std::int64_t ldc, GpuBackend backend, Precision precision) {
  if (shape.m == 0 || shape.n == 0) return;
  gemm_variant(backend, precision).run({shape, a, lda, b, ldb, c, ldc}, RunContext{.stream = cuda_stream()});
  count_gpu_launches();
}

void conv_pass(conv::Pass pass, const conv::Operands& op, GpuBackend backend) {
  const ConvVariant& v = conv_variant(backend);
  if (const char* why = v.why_not(op.shape)) throw std::invalid_argument(std::string(v.name) + ": " + why);
  v.pass(pass)(op, RunContext{.stream = cuda_stream()});
  count_gpu_launches();
}

void add_channel_vector(float* y, const float* v, std::int64_t n, std::int64_t c, std::int64_t plane) {
  if (n * c * plane == 0) return;
  add_channel_vector_kernel<<<blocks_for(n * c * plane), 256, 0, stream()>>>(y, v, n * c * plane, c, plane);
  FLOPSLAB_NN_LAUNCHED();
}

void channel_sums(const float* x, std::int64_t n, std::int64_t c, std::int64_t plane, float* out) {
  if (c == 0) return;
  channel_sums_kernel<<<unsigned(c), 256, 0, stream()>>>(x, n, c, plane, out);
  FLOPSLAB_NN_LAUNCHED();
}

void multiply(const float* a, const float* b, float* out, std::int64_t n) {
  if (n == 0) return;
  multiply_kernel<<<blocks_for(n), 256, 0, stream()>>>(a, b, out, n);
  FLOPSLAB_NN_LAUNCHED();
}

void add_in_place(float* a, const float* b, std::int64_t n) {
  if (n == 0) return;
  add_kernel<<<blocks_for(n), 256, 0, stream()>>>(a, b, n);
  FLOPSLAB_NN_LAUNCHED();
}

void require_gpu_precision(const Module& layer, const Context& ctx) {
  if (ctx.precision == Precision::fp16)
    throw std::invalid_argument(layer.describe() + ": fp16 is not on the GPU; use bf16 (float32's range, no loss scale needed)");
}

void scale(float* x, std::int64_t n, float factor) {
  if (n == 0) return;
  scale_kernel<<<blocks_for(n), 256, 0, stream()>>>(x, n, factor, nullptr);
  FLOPSLAB_NN_LAUNCHED();
}

bool scale_and_check_finite(const std::vector<std::pair<float*, std::int64_t>>& tensors, float factor) {
  Tensor flag = Tensor::zeros_on(DeviceTag::cuda, {1});
  for (const auto& [x, n] : tensors) {
    if (n == 0) continue;
    scale_kernel<<<blocks_for(n), 256, 0, stream()>>>(x, n, factor, reinterpret_cast<int*>(flag.data()));
    FLOPSLAB_NN_LAUNCHED();
  }
  const Tensor back = flag.to(DeviceTag::cpu);
  return *reinterpret_cast<const int*>(back.data()) == 0;
}

void transpose(const float* src, std::int64_t rows, std::int64_t cols, float* dst) {
  if (rows == 0 || cols == 0) return;
  const dim3 grid(unsigned((cols + 31) / 32), unsigned((rows + 31) / 32)), block(32, 8);
  transpose_kernel<<<grid, block, 0, stream()>>>(src, rows, cols, dst);
  FLOPSLAB_NN_LAUNCHED();
}

void add_row_vector(float* y, const float* v, std::int64_t rows, std::int64_t cols) {
  if (rows * cols == 0) return;
  add_row_vector_kernel<<<blocks_for(rows * cols), 256, 0, stream()>>>(y, v, rows, cols);
  FLOPSLAB_NN_LAUNCHED();
}

void column_sums(const float* x, std::int64_t rows, std::int64_t cols, float* out) {
  if (cols == 0) return;
  column_sums_kernel<<<unsigned((cols + 127) / 128), 128, 0, stream()>>>(x, rows, cols, out);
  FLOPSLAB_NN_LAUNCHED();
}

void channel_shuffle(const float* x, float* y, std::int64_t n, std::int64_t c, std::int64_t plane, std::int64_t groups) {
  conv::cuda::channel_shuffle(x, y, n, c, plane, groups, cuda_stream());
  count_gpu_launches();
}


}  // namespace flopslab::nn::gpu
