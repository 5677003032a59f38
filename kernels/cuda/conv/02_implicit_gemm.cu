// Step 2 on the GPU: implicit GEMM. Each pass of a convolution is a matrix product whose
// operands are read straight out of the tensors, so no im2col matrix is ever stored:
//
//   pass              rows (M)    columns (N)      sum over (Kd)    A[m][kk]        B[kk][col]
//   forward           K/g filters N*P*Q pixels     C/g*R*S taps     w               x under the window
//   backward_data     C/g chans   N*H*W pixels     K/g*R*S          w, transposed   dy where it reaches
//   backward_weights  K/g filters C/g*R*S taps     N*P*Q pixels     dy              x under the window
//
// One kernel serves all three, tiled like step 5 of the GEMM ladder: a 256-thread block owns a
// BM x 128 tile of the output and walks the sum 8 at a time through shared memory, each thread
// keeping a (BM/16) x 8 block of accumulators in registers. Because 256 is a multiple of the
// tile widths, every thread loads the same output column (and A row) on every step, so the
// column's pixel coordinates are decoded once, not per element. Groups are a grid dimension.
// backward_weights sums over the whole batch with few output tiles, so it splits that sum
// across blocks (split-K) and adds the partial tiles with atomics: fast, and not bit-for-bit
// reproducible from run to run (the order of the additions varies).
#include <algorithm>

#include "kernels/cuda/conv/conv_cuda.h"

namespace flopslab::conv::cuda {
namespace {

constexpr int kThreads = 256, kTileN = 128, kTileK = 8;

// Forward: A = w (row m is filter g*K/g + m), B = x gathered under the window of output pixel col.
struct ForwardGemm {
  DeviceShape d;
  const float* x;
  const float* w;
  float* y;
  int m, n, kdim;  // K/g, N*P*Q, C/g*R*S

  struct Row { const float* w_row; bool valid; };
  struct Col { const float* image; int ih0, iw0; bool valid; };
  __device__ Row row(int group, int mi) const {
    return {w + (std::int64_t(group) * d.k_per_group + mi) * kdim, mi < m};
  }
  __device__ float a(const Row& row, int kk) const { return row.valid ? row.w_row[kk] : 0.f; }
  __device__ Col column(int group, int col) const {
    if (col >= n) return {nullptr, 0, 0, false};
    const int q = col % d.q, p = col / d.q % d.p, image = col / (d.q * d.p);
    return {x + (std::int64_t(image) * d.c + std::int64_t(group) * d.c_per_group) * d.h * d.w,
            p * d.stride_h - d.pad_h, q * d.stride_w - d.pad_w, true};
  }
  __device__ float b(const Col& col, int kk) const {
    if (!col.valid) return 0.f;
    const int rs = d.r * d.s, c = kk / rs, r = (kk - c * rs) / d.s, s = kk - c * rs - r * d.s;
    const int ih = col.ih0 + r * d.dilation_h, iw = col.iw0 + s * d.dilation_w;
    return (ih >= 0 && ih < d.h && iw >= 0 && iw < d.w) ? col.image[(std::int64_t(c) * d.h + ih) * d.w + iw] : 0.f;
  }
  __device__ void store(int group, int mi, int col, float v, bool accumulate) const {
    const int pq = d.p * d.q, image = col / pq;
    float* out = y + (std::int64_t(image) * d.k + std::int64_t(group) * d.k_per_group + mi) * pq + (col - image * pq);
    if (accumulate) atomicAdd(out, v); else *out = v;
  }
};

// Backward data: A[c][(k, r, s)] = w[k][c][r][s]; B = dy at the output pixel that tap (r, s) of
// input pixel col came from, when the stride lands on one.
struct BackwardDataGemm {
  DeviceShape d;
  float* dx;
  const float* w;
  const float* dy;
  int m, n, kdim;  // C/g, N*H*W, K/g*R*S

  struct Row { const float* w_c; bool valid; };
  struct Col { const float* dy_image; int hh, ww; bool valid; };
  __device__ Row row(int group, int c) const {
    return {w + (std::int64_t(group) * d.k_per_group * d.c_per_group + c) * d.r * d.s, c < m};
  }
  __device__ float a(const Row& row, int kk) const {
    if (!row.valid) return 0.f;
    const int rs = d.r * d.s, k = kk / rs;
    return row.w_c[std::int64_t(k) * d.c_per_group * rs + (kk - k * rs)];
  }
  __device__ Col column(int group, int col) const {
    if (col >= n) return {nullptr, 0, 0, false};
    const int iw = col % d.w, ih = col / d.w % d.h, image = col / (d.w * d.h);
    return {dy + (std::int64_t(image) * d.k + std::int64_t(group) * d.k_per_group) * d.p * d.q, ih + d.pad_h,
            iw + d.pad_w, true};
  }
  __device__ float b(const Col& col, int kk) const {
    if (!col.valid) return 0.f;
    const int rs = d.r * d.s, k = kk / rs, r = (kk - k * rs) / d.s, s = kk - k * rs - r * d.s;
    const int ph = col.hh - r * d.dilation_h, pw = col.ww - s * d.dilation_w;
    if (ph < 0 || pw < 0 || ph % d.stride_h != 0 || pw % d.stride_w != 0) return 0.f;
    const int p = ph / d.stride_h, q = pw / d.stride_w;
    return (p < d.p && q < d.q) ? col.dy_image[(std::int64_t(k) * d.p + p) * d.q + q] : 0.f;
  }
  __device__ void store(int group, int c, int col, float v, bool accumulate) const {
    const int hw = d.h * d.w, image = col / hw;
    float* out = dx + (std::int64_t(image) * d.c + std::int64_t(group) * d.c_per_group + c) * hw + (col - image * hw);
    if (accumulate) atomicAdd(out, v); else *out = v;
  }
};

// Backward weights: A[k][(n, p, q)] = dy; B[(n, p, q)][(c, r, s)] = x under tap (r, s) of pixel (p, q).
struct BackwardWeightsGemm {
  DeviceShape d;
  const float* x;
  float* dw;
  const float* dy;
  int m, n, kdim;  // K/g, C/g*R*S, N*P*Q

  struct Row { const float* dy_k; bool valid; };
  struct Col { const float* x_channel; int r_offset, s_offset; bool valid; };
  __device__ Row row(int group, int k) const {
    return {dy + (std::int64_t(group) * d.k_per_group + k) * d.p * d.q, k < m};
  }
  __device__ float a(const Row& row, int kk) const {
    if (!row.valid) return 0.f;
    const int pq = d.p * d.q, image = kk / pq;
    return row.dy_k[std::int64_t(image) * d.k * pq + (kk - image * pq)];
  }
  __device__ Col column(int group, int col) const {
    if (col >= n) return {nullptr, 0, 0, false};
    const int s = col % d.s, r = col / d.s % d.r, c = col / (d.s * d.r);
    return {x + (std::int64_t(group) * d.c_per_group + c) * d.h * d.w, r * d.dilation_h - d.pad_h,
            s * d.dilation_w - d.pad_w, true};
  }
  __device__ float b(const Col& col, int kk) const {
    if (!col.valid) return 0.f;
    const int q = kk % d.q, p = kk / d.q % d.p, image = kk / (d.q * d.p);
    const int ih = p * d.stride_h + col.r_offset, iw = q * d.stride_w + col.s_offset;
    return (ih >= 0 && ih < d.h && iw >= 0 && iw < d.w)
               ? col.x_channel[(std::int64_t(image) * d.c * d.h + ih) * d.w + iw]
               : 0.f;
  }
  __device__ void store(int group, int k, int col, float v, bool accumulate) const {
    float* out = dw + (std::int64_t(group) * d.k_per_group + k) * n + col;
    if (accumulate) atomicAdd(out, v); else *out = v;
  }
};

// grid: x = column tiles, y = row tiles, z = groups * splits.
template <int kTileM, class Gemm>
__global__ __launch_bounds__(kThreads) void implicit_gemm(Gemm gemm, int splits) {
  constexpr int kThreadM = kTileM / 16, kThreadN = kTileN / 16;
  static_assert(kThreads % kTileM == 0 && kThreads % kTileN == 0, "each thread loads one fixed row and column");
  __shared__ float a_tile[kTileK][kTileM];  // transposed: a_tile[kk][m]
  __shared__ float b_tile[kTileK][kTileN];

  const int group = blockIdx.z / splits, split = blockIdx.z % splits;
  const int row0 = blockIdx.y * kTileM, col0 = blockIdx.x * kTileN;
  const int steps = (gemm.kdim + kTileK - 1) / kTileK, steps_per_split = (steps + splits - 1) / splits;
  const int k_begin = split * steps_per_split * kTileK, k_end = min(gemm.kdim, k_begin + steps_per_split * kTileK);

  // This thread's loads: row a_row of A at sums a_kk + j * (256 / kTileM), column b_col of B
  // at sums b_kk + j * (256 / kTileN).
  const int a_row = threadIdx.x % kTileM, a_kk = threadIdx.x / kTileM;
  const int b_col = threadIdx.x % kTileN, b_kk = threadIdx.x / kTileN;
  const typename Gemm::Row row = gemm.row(group, row0 + a_row);
  const typename Gemm::Col col = gemm.column(group, col0 + b_col);

  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  float acc[kThreadM][kThreadN] = {};
  for (int k0 = k_begin; k0 < k_end; k0 += kTileK) {
#pragma unroll
    for (int kk = a_kk; kk < kTileK; kk += kThreads / kTileM)
      a_tile[kk][a_row] = k0 + kk < k_end ? gemm.a(row, k0 + kk) : 0.f;
#pragma unroll
    for (int kk = b_kk; kk < kTileK; kk += kThreads / kTileN)
      b_tile[kk][b_col] = k0 + kk < k_end ? gemm.b(col, k0 + kk) : 0.f;
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kTileK; ++kk) {
      float a[kThreadM], b[kThreadN];
#pragma unroll
      for (int i = 0; i < kThreadM; ++i) a[i] = a_tile[kk][ty + 16 * i];
#pragma unroll
      for (int j = 0; j < kThreadN; ++j) b[j] = b_tile[kk][tx + 16 * j];
#pragma unroll
      for (int i = 0; i < kThreadM; ++i)
#pragma unroll
        for (int j = 0; j < kThreadN; ++j) acc[i][j] += a[i] * b[j];
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < kThreadM; ++i)
#pragma unroll
    for (int j = 0; j < kThreadN; ++j) {
      const int m = row0 + ty + 16 * i, n = col0 + tx + 16 * j;
      if (m < gemm.m && n < gemm.n) gemm.store(group, m, n, acc[i][j], splits > 1);
    }
}

// Split the sum when the output tiles alone would leave most SMs idle, keeping at least 32
// steps of 8 per split; a split output starts from zeros and is accumulated atomically.
template <class Gemm>
void launch(const Gemm& gemm, int groups, float* out, std::int64_t out_count, cudaStream_t stream) {
  const int tile_m = gemm.m <= 64 ? 64 : 128;
  const dim3 tiles(blocks_for(gemm.n, kTileN), blocks_for(gemm.m, tile_m), unsigned(groups));
  const std::int64_t blocks = std::int64_t(tiles.x) * tiles.y * tiles.z;
  int splits = int(std::min<std::int64_t>({2 * multiprocessor_count() / std::max<std::int64_t>(blocks, 1),
                                           gemm.kdim / (32 * kTileK), 65535 / groups}));
  splits = std::max(splits, 1);
  if (splits > 1) FLOPSLAB_CUDA_CHECK(cudaMemsetAsync(out, 0, out_count * sizeof(float), stream));
  const dim3 grid(tiles.x, tiles.y, unsigned(groups * splits));
  if (tile_m == 64)
    implicit_gemm<64><<<grid, kThreads, 0, stream>>>(gemm, splits);
  else
    implicit_gemm<128><<<grid, kThreads, 0, stream>>>(gemm, splits);
  FLOPSLAB_CUDA_CHECK_LAUNCH();
}

void forward(const Operands& op, const RunContext& ctx) {
  const DeviceShape d = DeviceShape::of(op.shape);
  const ForwardGemm gemm{d, op.x, op.w, op.y, d.k_per_group, d.n * d.p * d.q, d.c_per_group * d.r * d.s};
  launch(gemm, d.groups, op.y, op.shape.y_size(), stream_of(ctx));
}
void backward_data(const Operands& op, const RunContext& ctx) {
  const DeviceShape d = DeviceShape::of(op.shape);
  const BackwardDataGemm gemm{d, op.x, op.w, op.y, d.c_per_group, d.n * d.h * d.w, d.k_per_group * d.r * d.s};
  launch(gemm, d.groups, op.x, op.shape.x_size(), stream_of(ctx));
}
void backward_weights(const Operands& op, const RunContext& ctx) {
  const DeviceShape d = DeviceShape::of(op.shape);
  const BackwardWeightsGemm gemm{d, op.x, op.w, op.y, d.k_per_group, d.c_per_group * d.r * d.s, d.n * d.p * d.q};
  launch(gemm, d.groups, op.w, op.shape.w_size(), stream_of(ctx));
}

const char* unsupported(const Shape& s) {
  return s.groups > 65535 ? "more than 65535 groups (one grid dimension holds them)" : nullptr;
}

}  // namespace

extern const ConvVariant kCudaImplicitGemm{
    .name = "cuda-implicit-gemm",
    .step = 2,
    .device = Device::cuda,
    .idea = "each pass as a tiled GEMM reading the tensors in place; split-K atomics for weight gradients",
    .forward = forward,
    .backward_data = backward_data,
    .backward_weights = backward_weights,
    .unsupported = unsupported,
};

}  // namespace flopslab::conv::cuda
