// Step 8: the tile fitted to the shape, and split-K when even small tiles leave SMs idle.
//
// Step 7's 128 x 256 tile wins at 4096^3, but a 1024^3 product has only 32 such tiles for an
// H100's 132 SMs, and the training stack's GEMMs (64-256 rows) have fewer still. Here the
// launcher counts the tiles each of three shapes would make and takes the largest tile that
// still gives every SM at least one block:
//   128 x 256 (256 threads, step 7's), 128 x 128 (128 threads), 64 x 64 (128 threads).
// When even 64 x 64 tiles cannot fill the SMs and k is long (a weight gradient's k is the
// batch times the pixels), the k loop is split: one launch of splits x tiles blocks, each
// summing a slice of k (blockIdx.z) into its own slice of a workspace, so the slices run on
// the SMs side by side; one more kernel adds the slices into C in a fixed order (no atomics,
// the same bits every run).
#include <algorithm>

#include "kernels/cuda/device_info.h"
#include "kernels/cuda/workspace.h"
#include "kernels/cuda/gemm/warptiling.cuh"

namespace flopslab::gemm::cuda {
namespace {

namespace w = warptiling;

struct TileChoice {
  int bm, bn, splits;
};

std::int64_t tile_count(const Shape& s, int bm, int bn) { return blocks(s.m, bm) * std::int64_t(blocks(s.n, bn)); }

TileChoice choose_tiles(const Shape& s) {
  const std::int64_t sms = flopslab::cuda::multiprocessor_count();
  if (tile_count(s, 128, 256) >= sms) return {128, 256, 1};
  if (tile_count(s, 128, 128) >= sms) return {128, 128, 1};
  const std::int64_t small = tile_count(s, 64, 64);
  // Each split must keep at least 256 of k (16 tiles of kBK = 16) to amortise its C tile.
  const std::int64_t splits = std::clamp<std::int64_t>(std::min(sms / std::max<std::int64_t>(small, 1), s.k / 256), 1, 16);
  return {64, 64, int(splits)};
}

void launch_tile(const TileChoice& t, const Operands& op, cudaStream_t stream, w::SplitK split = {}) {
  if (t.bm == 128 && t.bn == 256)
    w::launch<256, 128, 256, 16, 64, 64, 4, 8, 4>(op, stream, split);
  else if (t.bm == 128)
    w::launch<128, 128, 128, 16, 64, 64, 4, 8, 4>(op, stream, split);
  else
    w::launch<128, 64, 64, 16, 32, 32, 2, 4, 4>(op, stream, split);
}

// c[i][j] = sum over s of part[s * stride + i * n + j], the slices added in order.
__global__ void add_slices(const float* __restrict part, int splits, std::int64_t stride, std::int64_t m,
                           std::int64_t n, float* c, std::int64_t ldc) {
  for (std::int64_t e = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; e < m * n;
       e += std::int64_t(gridDim.x) * blockDim.x) {
    float sum = 0;
    for (int s = 0; s < splits; ++s) sum += part[s * stride + e];
    c[e / n * ldc + e % n] = sum;
  }
}

// The split-K slices, kept between calls and grown when a product needs more (kernels/cuda/workspace.h).
float* workspace(std::int64_t floats) {
  static flopslab::cuda::Workspace slices("step 8's split-K");
  return static_cast<float*>(slices.reserve(std::size_t(floats) * sizeof(float)));
}

void shape_tiled(const Operands& op, const RunContext& ctx) {
  if (empty(op)) return;
  const auto [m, n, k] = op.shape;
  if (k == 0) {  // an empty sum
    FLOPSLAB_CUDA_CHECK(cudaMemset2DAsync(op.c, op.ldc * sizeof(float), 0, n * sizeof(float), m, stream_of(ctx)));
    return;
  }
  const TileChoice t = choose_tiles(op.shape);
  if (t.splits == 1) return launch_tile(t, op, stream_of(ctx));
  // Slices of k, multiples of 4 so that every slice's A columns stay float4-aligned.
  const std::int64_t slice = (k + t.splits - 1) / t.splits + 3 & ~std::int64_t(3);
  const int splits = int((k + slice - 1) / slice);
  const std::int64_t stride = (m * n + 3) & ~std::int64_t(3);  // each slice 16-byte aligned
  float* part = workspace(std::int64_t(splits) * stride);
  const Operands slices{.shape = {m, n, k}, .a = op.a, .lda = op.lda, .b = op.b, .ldb = op.ldb, .c = part, .ldc = n};
  launch_tile(t, slices, stream_of(ctx), {.splits = splits, .slice = slice, .c_stride = stride});
  const unsigned grid = unsigned(std::min<std::int64_t>((m * n + 255) / 256, 4096));
  add_slices<<<grid, 256, 0, stream_of(ctx)>>>(part, splits, stride, m, n, op.c, op.ldc);
  FLOPSLAB_CUDA_CHECK_LAUNCH();
}

std::string describe_choice() {
  return "128x256, 128x128 or 64x64 tiles by the shape's tile count against the " +
         std::to_string(flopslab::cuda::multiprocessor_count()) + " SMs; split-K below that";
}

}  // namespace

extern const GemmVariant kCudaShapeTiled{
    .name = "cuda-shape-tiled",
    .step = 8,
    .device = Device::cuda,
    .idea = "step 7 with the tile chosen per shape (128x256, 128x128, 64x64) and split-K so small GEMMs fill the SMs",
    .run = shape_tiled,
    .detail = describe_choice,
};

}  // namespace flopslab::gemm::cuda
