#include "kernels/registry.h"

namespace flopslab {

// Each descriptor is defined at the bottom of its kernel's file.
namespace gemm {
extern const GemmVariant kCpuNaive, kCpuLoopOrder, kCpuBlocked, kCpuPackedSimd, kCpuOpenmp;
extern const GemmVariant kCpuOpenblas, kCpuOnednn;
}  // namespace gemm

namespace {
const GemmVariant* const kGemmVariants[] = {
    &gemm::kCpuNaive,       // kernels/cpu/gemm/01_naive.cpp
    &gemm::kCpuLoopOrder,   // kernels/cpu/gemm/02_loop_order.cpp
    &gemm::kCpuBlocked,     // kernels/cpu/gemm/03_blocked.cpp
    &gemm::kCpuPackedSimd,  // kernels/cpu/gemm/04_packed_simd.cpp
    &gemm::kCpuOpenmp,      // kernels/cpu/gemm/05_openmp.cpp
    &gemm::kCpuOpenblas,    // kernels/cpu/gemm/peer_openblas.cpp
    &gemm::kCpuOnednn,      // kernels/cpu/gemm/peer_onednn.cpp
};
}  // namespace

std::span<const GemmVariant* const> gemm_variants() { return kGemmVariants; }

const GemmVariant* find_gemm_variant(std::string_view name) {
  for (const GemmVariant* v : kGemmVariants)
    if (v->name == name) return v;
  return nullptr;
}

}  // namespace flopslab
