// Step 7: warp tiling, with the next tile loaded while this one is computed.
//
// The block tile (128 x 256) is split among 8 warps, each owning a 64 x 64 warp tile; within a
// warp each thread computes 4 sub-tiles of 8 x 4 spread 16 columns apart. Laying the threads
// out per warp keeps each warp's shared-memory reads to few distinct addresses (broadcasts) and
// its results close together, and it is the level at which tensor-core kernels work too.
// Double buffering: the float4s of the next A and B tiles are fetched from global memory into
// registers before the current tiles are used, so their latency hides behind 16 steps of FMAs.
#include "kernels/cuda/gemm/warptiling.cuh"

namespace flopslab::gemm::cuda {
namespace {

// Block tile 128 x 256 x 16, 256 threads (8 warps of 64 x 64), thread sub-tiles of 8 x 4: the
// fastest of the shapes flopslab-tune-warptiling tried on an H100 (90.5% of cuBLAS FP32 at
// 4096^3, against 85.1% for 128 x 128 x 16 with 128 threads).
void warp_tiled(const Operands& op, const RunContext& ctx) {
  warptiling::launch<256, 128, 256, 16, 64, 64, 4, 8, 4>(op, stream_of(ctx));
}

}  // namespace
extern const GemmVariant kCudaWarptiling{
    .name = "cuda-warptiling",
    .step = 7,
    .device = Device::cuda,
    .idea = "8 warps of 64x64 tiles in a 128x256 block, 4 sub-tiles of 8x4 per thread, next tiles prefetched",
    .run = warp_tiled,
};

}  // namespace flopslab::gemm::cuda
