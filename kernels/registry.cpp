// The registry's list itself: every CPU and CUDA GEMM and convolution variant, in ladder order.
#include "kernels/registry.h"

namespace flopslab {

// Each descriptor is defined at the bottom of its kernel's file.
namespace gemm {
extern const GemmVariant kCpuNaive, kCpuLoopOrder, kCpuBlocked, kCpuPackedSimd, kCpuOpenmp, kCpuBf16, kCpuAmxBf16;
extern const GemmVariant kCpuMkl, kCpuOpenblasPypi;
extern const GemmVariant kCpuOpenblas, kCpuOnednn, kCpuOnednnBf16;
#ifdef FLOPSLAB_HAVE_CUDA
namespace cuda {
extern const GemmVariant kCudaNaive, kCudaCoalesced, kCudaSharedTiles, kCudaBlocktile1d, kCudaBlocktile2d,
    kCudaVectorized, kCudaWarptiling, kCudaShapeTiled, kCudaWmmaBf16, kCudaCublas, kCudaCublasTf32, kCudaCublasLtBf16;
}
#endif
}  // namespace gemm

namespace conv {
extern const ConvVariant kCpuDirect, kCpuIm2colGemm, kCpuImplicitGemm, kCpuGemm1x1, kCpuBatched, kCpuDirectBlocked,
    kCpuDirectWeightGrad, kCpuDepthwise, kCpuWinograd2x2, kCpuWinograd4x4, kCpuPerShape, kCpuOnednnConv;
#ifdef FLOPSLAB_HAVE_CUDA
namespace cuda {
extern const ConvVariant kCudaDirect, kCudaImplicitGemm;
#ifdef FLOPSLAB_HAVE_CUDNN
extern const ConvVariant kCudnn, kCudnnImplicitGemm, kCudnnTf32;
#endif
}  // namespace cuda
#endif
}  // namespace conv

namespace {
const GemmVariant* const kGemmVariants[] = {
    &gemm::kCpuNaive,       // kernels/cpu/gemm/01_naive.cpp
    &gemm::kCpuLoopOrder,   // kernels/cpu/gemm/02_loop_order.cpp
    &gemm::kCpuBlocked,     // kernels/cpu/gemm/03_blocked.cpp
    &gemm::kCpuPackedSimd,  // kernels/cpu/gemm/04_packed_simd.cpp
    &gemm::kCpuOpenmp,      // kernels/cpu/gemm/05_openmp.cpp
    &gemm::kCpuBf16,        // kernels/cpu/gemm/06_bf16.cpp
    &gemm::kCpuAmxBf16,     // kernels/cpu/gemm/07_amx.cpp
    &gemm::kCpuOpenblas,    // kernels/cpu/gemm/peer_openblas.cpp
    &gemm::kCpuOnednn,      // kernels/cpu/gemm/peer_onednn.cpp
    &gemm::kCpuOnednnBf16,  // kernels/cpu/gemm/peer_onednn_bf16.cpp
    &gemm::kCpuMkl,           // kernels/cpu/gemm/peer_pypi.cpp (opt-in)
    &gemm::kCpuOpenblasPypi,  // kernels/cpu/gemm/peer_pypi.cpp (opt-in)
#ifdef FLOPSLAB_HAVE_CUDA  // only in builds with the CUDA toolkit
    &gemm::cuda::kCudaNaive,        // kernels/cuda/gemm/01_naive.cu
    &gemm::cuda::kCudaCoalesced,    // kernels/cuda/gemm/02_coalesced.cu
    &gemm::cuda::kCudaSharedTiles,  // kernels/cuda/gemm/03_shared_tiles.cu
    &gemm::cuda::kCudaBlocktile1d,  // kernels/cuda/gemm/04_blocktile_1d.cu
    &gemm::cuda::kCudaBlocktile2d,  // kernels/cuda/gemm/05_blocktile_2d.cu
    &gemm::cuda::kCudaVectorized,   // kernels/cuda/gemm/06_vectorized.cu
    &gemm::cuda::kCudaWarptiling,   // kernels/cuda/gemm/07_warptiling.cu
    &gemm::cuda::kCudaShapeTiled,   // kernels/cuda/gemm/08_shape_tiled.cu
    &gemm::cuda::kCudaWmmaBf16,     // kernels/cuda/gemm/09_wmma_bf16.cu
    &gemm::cuda::kCudaCublas,       // kernels/cuda/gemm/peer_cublas.cu
    &gemm::cuda::kCudaCublasTf32,   // kernels/cuda/gemm/peer_cublas.cu
    &gemm::cuda::kCudaCublasLtBf16, // kernels/cuda/gemm/peer_cublaslt_bf16.cu
#endif
};

// Convolution: CPU ladder, CPU peer, then the CUDA kernels and cuDNN.
const ConvVariant* const kConvVariants[] = {
    &conv::kCpuDirect,        // kernels/cpu/conv/01_direct.cpp
    &conv::kCpuIm2colGemm,    // kernels/cpu/conv/02_im2col_gemm.cpp
    &conv::kCpuImplicitGemm,  // kernels/cpu/conv/03_implicit_gemm.cpp
    &conv::kCpuGemm1x1,       // kernels/cpu/conv/04_gemm_1x1.cpp
    &conv::kCpuBatched,       // kernels/cpu/conv/05_batched.cpp
    &conv::kCpuDirectBlocked,     // kernels/cpu/conv/06_direct_blocked.cpp
    &conv::kCpuDirectWeightGrad,  // kernels/cpu/conv/07_direct_weight_grad.cpp
    &conv::kCpuDepthwise,         // kernels/cpu/conv/08_depthwise.cpp
    &conv::kCpuWinograd2x2,       // kernels/cpu/conv/09_winograd_2x2.cpp
    &conv::kCpuWinograd4x4,       // kernels/cpu/conv/10_winograd_4x4.cpp
    &conv::kCpuPerShape,          // kernels/cpu/conv/11_per_shape.cpp
    &conv::kCpuOnednnConv,    // kernels/cpu/conv/peer_onednn.cpp
#ifdef FLOPSLAB_HAVE_CUDA
    &conv::cuda::kCudaDirect,        // kernels/cuda/conv/01_direct.cu
    &conv::cuda::kCudaImplicitGemm,  // kernels/cuda/conv/02_implicit_gemm.cu
#ifdef FLOPSLAB_HAVE_CUDNN           // only where cuDNN was found
    &conv::cuda::kCudnn,              // kernels/cuda/conv/peer_cudnn.cpp
    &conv::cuda::kCudnnImplicitGemm,  // kernels/cuda/conv/peer_cudnn.cpp
    &conv::cuda::kCudnnTf32,          // kernels/cuda/conv/peer_cudnn.cpp
#endif
#endif
};
}  // namespace

std::span<const ConvVariant* const> conv_variants() { return kConvVariants; }

const ConvVariant* find_conv_variant(std::string_view name) {
  for (const ConvVariant* v : kConvVariants)
    if (v->name == name) return v;
  return nullptr;
}

std::span<const GemmVariant* const> gemm_variants() { return kGemmVariants; }

const GemmVariant* find_gemm_variant(std::string_view name) {
  for (const GemmVariant* v : kGemmVariants)
    if (v->name == name) return v;
  return nullptr;
}

}  // namespace flopslab
