// Step 9: tensor cores. The operands are rounded to bfloat16 (8-bit mantissas, float32's
// range) and multiplied by the warp-level matrix instructions (WMMA, 16x16x16 fragments,
// float32 accumulators), the path mixed-precision training takes on sm_80 and later. Each
// block of 4 warps computes a 64x64 tile of C; each warp a 32x32 corner (2x2 fragments) from
// 64x32 and 32x64 slices of A and B staged in shared memory. The float32 operands are first
// converted into packed bfloat16 copies (one pass over each; their cost is in the timing).
// Not an FP32 GEMM: its inputs carry a roundoff of 2^-8, which widens its check.
#include <mma.h>

#include <string>

#include "kernels/cuda/gemm/bf16_operands.cuh"

namespace flopslab::gemm::cuda {
namespace {

constexpr int kTileM = 64, kTileN = 64, kTileK = 32, kPad = 8;  // padding: ldm a multiple of 8, fewer bank conflicts

__global__ void __launch_bounds__(128) wmma_gemm(const __nv_bfloat16* __restrict a, const __nv_bfloat16* __restrict b,
                                                 float* __restrict c, std::int64_t ldc, std::int64_t m, std::int64_t n,
                                                 std::int64_t k) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  using namespace nvcuda;
  __shared__ __align__(32) __nv_bfloat16 as[kTileM][kTileK + kPad];
  __shared__ __align__(32) __nv_bfloat16 bs[kTileK][kTileN + kPad];
  __shared__ __align__(32) float cs[4][32][32 + 4];  // each warp's corner on its way out
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int warp_row = warp / 2, warp_col = warp % 2;
  const std::int64_t row0 = std::int64_t(blockIdx.y) * kTileM, col0 = std::int64_t(blockIdx.x) * kTileN;
  wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[2][2];
  for (auto& r : acc)
    for (auto& f : r) wmma::fill_fragment(f, 0.0f);
  const __nv_bfloat16 zero = __float2bfloat16(0.0f);
  for (std::int64_t p0 = 0; p0 < k; p0 += kTileK) {
    for (int e = threadIdx.x; e < kTileM * kTileK; e += blockDim.x) {  // zeros past the edges
      const int r = e / kTileK, q = e % kTileK;
      const std::int64_t gr = row0 + r, gq = p0 + q;
      as[r][q] = gr < m && gq < k ? a[gr * k + gq] : zero;
    }
    for (int e = threadIdx.x; e < kTileK * kTileN; e += blockDim.x) {
      const int r = e / kTileN, q = e % kTileN;
      const std::int64_t gr = p0 + r, gq = col0 + q;
      bs[r][q] = gr < k && gq < n ? b[gr * n + gq] : zero;
    }
    __syncthreads();
    for (int kk = 0; kk < kTileK; kk += 16) {
      wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> fa[2];
      wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::row_major> fb[2];
      for (int i = 0; i < 2; ++i) wmma::load_matrix_sync(fa[i], &as[warp_row * 32 + i * 16][kk], kTileK + kPad);
      for (int j = 0; j < 2; ++j) wmma::load_matrix_sync(fb[j], &bs[kk][warp_col * 32 + j * 16], kTileN + kPad);
      for (int i = 0; i < 2; ++i)
        for (int j = 0; j < 2; ++j) wmma::mma_sync(acc[i][j], fa[i], fb[j], acc[i][j]);
    }
    __syncthreads();
  }
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 2; ++j)
      wmma::store_matrix_sync(&cs[warp][i * 16][j * 16], acc[i][j], 32 + 4, wmma::mem_row_major);
  __syncwarp();
  for (int e = lane; e < 32 * 32; e += 32) {  // only the part of the corner inside C
    const std::int64_t gr = row0 + warp_row * 32 + e / 32, gq = col0 + warp_col * 32 + e % 32;
    if (gr < m && gq < n) c[gr * ldc + gq] = cs[warp][e / 32][e % 32];
  }
#endif
}

void wmma_bf16(const Operands& op, const RunContext& ctx) {
  const cudaStream_t stream = stream_of(ctx);
  Bf16Operands packed;
  if (!start_bf16(op, stream, packed)) return;
  const auto [m, n, k] = op.shape;
  const dim3 grid(blocks(n, kTileN), blocks(m, kTileM));
  wmma_gemm<<<grid, 128, 0, stream>>>(packed.a, packed.b, op.c, op.ldc, m, n, k);
  FLOPSLAB_CUDA_CHECK_LAUNCH();
}

const char* needs_sm80() {
  static const std::string why = [] {
    int device = 0, major = 0;
    if (cudaGetDevice(&device) != cudaSuccess ||
        cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess) {
      (void)cudaGetLastError();
      return std::string("no usable GPU");
    }
    return major >= 8 ? std::string() : std::string("bfloat16 tensor cores need compute capability 8.0 or later");
  }();
  return why.empty() ? nullptr : why.c_str();
}

}  // namespace

extern const GemmVariant kCudaWmmaBf16{
    .name = "cuda-wmma-bf16",
    .step = 9,
    .device = Device::cuda,
    .idea = "bfloat16 operands on tensor cores (WMMA 16x16x16, float32 accumulators), 64x64 block tiles",
    .run = wmma_bf16,
    .unavailable = needs_sm80,
    .input_roundoff = 0x1p-8,
};

}  // namespace flopslab::gemm::cuda
