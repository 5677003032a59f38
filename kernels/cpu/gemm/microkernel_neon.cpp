// NEON micro-kernel (aarch64): an 8 x 12 tile of C held in 24 of NEON's 32 128-bit registers.
//
// Per step p: two loads of A (8 floats), three loads of B (12 floats) and 24 FMLAs "by
// element": each multiplies a B vector by one lane of an A register, so A needs no broadcast
// instruction at all (x86 spends a broadcast per row). 24 accumulators + 3 B + 2 A = 29
// registers. Two to four FMA pipes of 4-cycle latency need 8 to 16 independent chains; 24
// cover the widest cores (Neoverse V2, Cortex-X). The shape of OpenBLAS's and BLIS's Cortex-A57
// kernels. NEON is in every aarch64 core, so no dispatch guards this file; SVE cores run it too
// until the ladder has a vector-length-agnostic kernel.
#include "kernels/cpu/gemm/packed.h"

#if defined(__aarch64__)
#include <arm_neon.h>

namespace flopslab::gemm::packed {
namespace {

constexpr int kMr = 8, kNr = 12;

template <int kLane>
[[gnu::always_inline]] inline void row(float32x4_t (&acc)[3], float32x4_t a, const float32x4_t (&b)[3]) {
  acc[0] = vfmaq_laneq_f32(acc[0], b[0], a, kLane);
  acc[1] = vfmaq_laneq_f32(acc[1], b[1], a, kLane);
  acc[2] = vfmaq_laneq_f32(acc[2], b[2], a, kLane);
}

void micro_8x12(std::int64_t kc, const float* a, const float* b, float* c, std::int64_t ldc, bool accumulate) {
  float32x4_t acc[kMr][3];
  for (int r = 0; r < kMr; ++r) acc[r][0] = acc[r][1] = acc[r][2] = vdupq_n_f32(0.0f);
  for (std::int64_t p = 0; p < kc; ++p) {
    const float32x4_t a_lo = vld1q_f32(a), a_hi = vld1q_f32(a + 4);
    const float32x4_t bv[3] = {vld1q_f32(b), vld1q_f32(b + 4), vld1q_f32(b + 8)};
    row<0>(acc[0], a_lo, bv);
    row<1>(acc[1], a_lo, bv);
    row<2>(acc[2], a_lo, bv);
    row<3>(acc[3], a_lo, bv);
    row<0>(acc[4], a_hi, bv);
    row<1>(acc[5], a_hi, bv);
    row<2>(acc[6], a_hi, bv);
    row<3>(acc[7], a_hi, bv);
    a += kMr;
    b += kNr;
  }
  for (int r = 0; r < kMr; ++r) {
    float* c_row = c + r * ldc;
    for (int j = 0; j < 3; ++j) {
      const float32x4_t sum = accumulate ? vaddq_f32(acc[r][j], vld1q_f32(c_row + 4 * j)) : acc[r][j];
      vst1q_f32(c_row + 4 * j, sum);
    }
  }
}

}  // namespace

const MicroKernel kMicroKernelNeon{SimdPath::neon, kMr, kNr, micro_8x12};

}  // namespace flopslab::gemm::packed
#else
namespace flopslab::gemm::packed {
const MicroKernel kMicroKernelNeon{SimdPath::neon, 0, 0, nullptr};  // not aarch64: never selected
}
#endif
