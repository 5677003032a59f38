// The GPU probes' kernels (bandwidth, latency chase, FMA chains) and their launchers.
#include "kernels/cuda/probes/gpu_probes.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>

#include "kernels/cuda/cuda_check.h"

namespace flopslab::probes::gpu {
namespace {

cudaStream_t as_stream(void* s) { return static_cast<cudaStream_t>(s); }
unsigned cover(std::int64_t n, int per_block) { return unsigned(std::max<std::int64_t>(1, (n + per_block - 1) / per_block)); }

__global__ void fma_kernel(float* out, std::int64_t threads, int iterations) {
  const std::int64_t t = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (t >= threads) return;
  // As on the CPU: x just below 1 and a small y keep every chain near 1, never denormal.
  const float x = 0.999999f, y = 1e-6f * (1 + (t & 7));
  float acc[kFmaChains];
#pragma unroll
  for (int i = 0; i < kFmaChains; ++i) acc[i] = 1.0f + i * 1e-3f;
  for (int it = 0; it < iterations; ++it)
#pragma unroll
    for (int i = 0; i < kFmaChains; ++i) acc[i] = fmaf(acc[i], x, y);
  float sum = 0;
#pragma unroll
  for (int i = 0; i < kFmaChains; ++i) sum += acc[i];
  out[t] = sum;
}

// mma.sync chains (see launch_mma). A and B hold 2^-10 in every element: bf16 0x3A80 twice
// per register, TF32 the float32 bits 0x3A800000.
template <bool kBf16>
__global__ void mma_kernel(float* out, std::int64_t threads, int iterations) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  const std::int64_t t = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const std::uint32_t v = kBf16 ? 0x3A803A80u : 0x3A800000u;
  float acc[kMmaChains][4] = {};
  for (int it = 0; it < iterations; ++it)
#pragma unroll
    for (int c = 0; c < kMmaChains; ++c) {
      if constexpr (kBf16)
        asm volatile(
            "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
            : "+f"(acc[c][0]), "+f"(acc[c][1]), "+f"(acc[c][2]), "+f"(acc[c][3])
            : "r"(v), "r"(v), "r"(v), "r"(v), "r"(v), "r"(v));
      else
        asm volatile(
            "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
            : "+f"(acc[c][0]), "+f"(acc[c][1]), "+f"(acc[c][2]), "+f"(acc[c][3])
            : "r"(v), "r"(v), "r"(v), "r"(v), "r"(v), "r"(v));
    }
  float sum = 0;
#pragma unroll
  for (int c = 0; c < kMmaChains; ++c) sum += acc[c][0] + acc[c][1] + acc[c][2] + acc[c][3];
  if (t < threads) out[t] = sum;
#else
  (void)out, (void)threads, (void)iterations;
#endif
}

template <class V>
__global__ void copy_kernel(const V* __restrict__ in, V* __restrict__ out, std::int64_t n) {
  for (std::int64_t i = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += std::int64_t(gridDim.x) * blockDim.x)
    out[i] = in[i];
}

__device__ inline float triad1(float b, float c, float s) { return b + s * c; }
__device__ inline float2 triad1(float2 b, float2 c, float s) { return make_float2(b.x + s * c.x, b.y + s * c.y); }
__device__ inline float4 triad1(float4 b, float4 c, float s) {
  return make_float4(b.x + s * c.x, b.y + s * c.y, b.z + s * c.z, b.w + s * c.w);
}

template <class V>
__global__ void triad_kernel(V* __restrict__ a, const V* __restrict__ b, const V* __restrict__ c, float s, std::int64_t n) {
  for (std::int64_t i = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += std::int64_t(gridDim.x) * blockDim.x)
    a[i] = triad1(b[i], c[i], s);
}

__global__ void read_kernel(const float4* __restrict__ in, float* sink, std::int64_t n4, int passes) {
  float sum = 0;
  const std::int64_t stride = std::int64_t(gridDim.x) * blockDim.x;
  for (int p = 0; p < passes; ++p)
    for (std::int64_t i = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n4; i += stride) {
      const float4 v = in[i];
      sum += (v.x + v.y) + (v.z + v.w);
    }
  sink[std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x] = sum;
}

__global__ void shared_read_kernel(float* sink, int iterations) {
  __shared__ float4 data[1024];  // 16 KiB
  for (int i = threadIdx.x; i < 1024; i += blockDim.x) data[i] = make_float4(i, i + 1, i + 2, i + 3);
  __syncthreads();
  float4 acc = make_float4(0, 0, 0, 0);
  int index = threadIdx.x;
  for (int it = 0; it < iterations; ++it) {
    const float4 v = data[index];  // consecutive lanes, consecutive float4s: no bank conflicts
    acc.x += v.x, acc.y += v.y, acc.z += v.z, acc.w += v.w;
    index = (index + 256) & 1023;
  }
  sink[std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x] = (acc.x + acc.y) + (acc.z + acc.w);
}

__device__ inline float work(float v, int iterations, float x) {
  for (int i = 0; i < iterations; ++i) v = fmaf(v, x, 1e-6f);
  return v;
}

__global__ void divergent_kernel(float* out, int mode, int iterations) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  int path = 0;
  if (mode == 1) path = warp % 2;
  if (mode == 2) path = lane % 2;
  if (mode == 3) path = lane;
  float v = 1.0f + threadIdx.x * 1e-6f;
  // Each path does the same amount of work with a different constant, so the compiler cannot
  // merge them; in a divergent warp the paths run one after another.
  switch (path % 32) {
#define FLOPSLAB_PATH(n) \
  case n: v = work(v, iterations, 0.99999f - n * 1e-7f); break;
    FLOPSLAB_PATH(0) FLOPSLAB_PATH(1) FLOPSLAB_PATH(2) FLOPSLAB_PATH(3) FLOPSLAB_PATH(4) FLOPSLAB_PATH(5)
    FLOPSLAB_PATH(6) FLOPSLAB_PATH(7) FLOPSLAB_PATH(8) FLOPSLAB_PATH(9) FLOPSLAB_PATH(10) FLOPSLAB_PATH(11)
    FLOPSLAB_PATH(12) FLOPSLAB_PATH(13) FLOPSLAB_PATH(14) FLOPSLAB_PATH(15) FLOPSLAB_PATH(16) FLOPSLAB_PATH(17)
    FLOPSLAB_PATH(18) FLOPSLAB_PATH(19) FLOPSLAB_PATH(20) FLOPSLAB_PATH(21) FLOPSLAB_PATH(22) FLOPSLAB_PATH(23)
    FLOPSLAB_PATH(24) FLOPSLAB_PATH(25) FLOPSLAB_PATH(26) FLOPSLAB_PATH(27) FLOPSLAB_PATH(28) FLOPSLAB_PATH(29)
    FLOPSLAB_PATH(30) FLOPSLAB_PATH(31)
#undef FLOPSLAB_PATH
  }
  out[std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x] = v;
}

__global__ void empty_kernel() {}

__global__ void spin_kernel(std::int64_t cycles) {
  if (threadIdx.x != 0) return;
  const long long start = clock64();
  while (clock64() - start < cycles) {
  }
}

__global__ void scrub_kernel(int4* p, std::int64_t n) {
  for (std::int64_t i = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += std::int64_t(gridDim.x) * blockDim.x)
    p[i] = make_int4(int(i), 0, 0, 0);
}

__global__ void to_bf16_kernel(const float* in, __nv_bfloat16* out, std::int64_t n) {
  for (std::int64_t i = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += std::int64_t(gridDim.x) * blockDim.x)
    out[i] = __float2bfloat16_rn(in[i]);
}

__global__ void to_fp16_kernel(const float* in, __half* out, std::int64_t n) {
  for (std::int64_t i = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += std::int64_t(gridDim.x) * blockDim.x)
    out[i] = __float2half_rn(in[i]);
}

__global__ void from_fp16_kernel(const __half* in, float* out, std::int64_t n) {
  for (std::int64_t i = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += std::int64_t(gridDim.x) * blockDim.x)
    out[i] = __half2float(in[i]);
}

template <class V>
void copy_as(const float* in, float* out, std::int64_t n, int blocks, int tpb, cudaStream_t s) {
  const std::int64_t nv = n / (sizeof(V) / sizeof(float));
  copy_kernel<V><<<blocks > 0 ? unsigned(blocks) : cover(nv, tpb), tpb, 0, s>>>(
      reinterpret_cast<const V*>(in), reinterpret_cast<V*>(out), nv);
}

template <class V>
void triad_as(float* a, const float* b, const float* c, float scalar, std::int64_t n, int blocks, int tpb,
              cudaStream_t s) {
  const std::int64_t nv = n / (sizeof(V) / sizeof(float));
  triad_kernel<V><<<blocks > 0 ? unsigned(blocks) : cover(nv, tpb), tpb, 0, s>>>(
      reinterpret_cast<V*>(a), reinterpret_cast<const V*>(b), reinterpret_cast<const V*>(c), scalar, nv);
}

}  // namespace

void launch_fma(float* out, std::int64_t threads, int iterations, void* stream) {
  const int tpb = int(std::min<std::int64_t>(threads, 256));
  fma_kernel<<<cover(threads, tpb), tpb, 0, as_stream(stream)>>>(out, threads, iterations);
  FLOPSLAB_CUDA_CHECK_LAUNCH();
}

bool launch_mma(float* out, std::int64_t threads, int iterations, bool bf16, int cc_major, void* stream) {
  if (cc_major < 8) return false;
  // Whole warps only: mma.sync needs all 32 lanes of a warp.
  const std::int64_t warps = std::max<std::int64_t>(1, threads / 32);
  const unsigned blocks = cover(warps * 32, 256);
  if (bf16)
    mma_kernel<true><<<blocks, 256, 0, as_stream(stream)>>>(out, warps * 32, iterations);
  else
    mma_kernel<false><<<blocks, 256, 0, as_stream(stream)>>>(out, warps * 32, iterations);
  FLOPSLAB_CUDA_CHECK_LAUNCH();
  return true;
}

void launch_copy(const float* in, float* out, std::int64_t n, int vector_width, int blocks, int tpb, void* stream) {
  if (vector_width == 4)
    copy_as<float4>(in, out, n, blocks, tpb, as_stream(stream));
  else if (vector_width == 2)
    copy_as<float2>(in, out, n, blocks, tpb, as_stream(stream));
  else
    copy_as<float>(in, out, n, blocks, tpb, as_stream(stream));
  FLOPSLAB_CUDA_CHECK_LAUNCH();
}

void launch_triad(float* a, const float* b, const float* c, float s, std::int64_t n, int vector_width, int blocks,
                  int tpb, void* stream) {
  if (vector_width == 4)
    triad_as<float4>(a, b, c, s, n, blocks, tpb, as_stream(stream));
  else if (vector_width == 2)
    triad_as<float2>(a, b, c, s, n, blocks, tpb, as_stream(stream));
  else
    triad_as<float>(a, b, c, s, n, blocks, tpb, as_stream(stream));
  FLOPSLAB_CUDA_CHECK_LAUNCH();
}

void launch_read(const float* in, float* sink, std::int64_t n, int passes, int blocks, void* stream) {
  read_kernel<<<unsigned(blocks), 256, 0, as_stream(stream)>>>(reinterpret_cast<const float4*>(in), sink, n / 4,
                                                                passes);
  FLOPSLAB_CUDA_CHECK_LAUNCH();
}

void launch_shared_read(float* sink, int iterations, int blocks, void* stream) {
  shared_read_kernel<<<unsigned(blocks), 256, 0, as_stream(stream)>>>(sink, iterations);
  FLOPSLAB_CUDA_CHECK_LAUNCH();
}

void launch_divergent(float* out, int mode, int iterations, int blocks, void* stream) {
  divergent_kernel<<<unsigned(blocks), 256, 0, as_stream(stream)>>>(out, mode, iterations);
  FLOPSLAB_CUDA_CHECK_LAUNCH();
}

void launch_empty(void* stream) {
  empty_kernel<<<1, 1, 0, as_stream(stream)>>>();
  FLOPSLAB_CUDA_CHECK_LAUNCH();
}

void launch_spin(std::int64_t cycles, int blocks, void* stream) {
  spin_kernel<<<unsigned(std::max(blocks, 1)), 32, 0, as_stream(stream)>>>(cycles);
  FLOPSLAB_CUDA_CHECK_LAUNCH();
}

void launch_to_bf16(const float* in, void* out, std::int64_t n, void* stream) {
  to_bf16_kernel<<<1024, 256, 0, as_stream(stream)>>>(in, static_cast<__nv_bfloat16*>(out), n);
  FLOPSLAB_CUDA_CHECK_LAUNCH();
}

void launch_to_fp16(const float* in, void* out, std::int64_t n, void* stream) {
  to_fp16_kernel<<<1024, 256, 0, as_stream(stream)>>>(in, static_cast<__half*>(out), n);
  FLOPSLAB_CUDA_CHECK_LAUNCH();
}

void launch_from_fp16(const void* in, float* out, std::int64_t n, void* stream) {
  from_fp16_kernel<<<1024, 256, 0, as_stream(stream)>>>(static_cast<const __half*>(in), out, n);
  FLOPSLAB_CUDA_CHECK_LAUNCH();
}

void launch_scrub(void* buffer, std::int64_t bytes, void* stream) {
  scrub_kernel<<<1024, 256, 0, as_stream(stream)>>>(static_cast<int4*>(buffer), bytes / 16);
  FLOPSLAB_CUDA_CHECK_LAUNCH();
}

}  // namespace flopslab::probes::gpu
