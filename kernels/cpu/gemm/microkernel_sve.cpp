// SVE micro-kernel (aarch64 with SVE), vector-length agnostic: an 8 x 3VL tile of C, where VL
// is the number of floats in this process's SVE vector (4 at 128 bits on Neoverse N2 and
// Grace's V2, 8 at 256 bits on V1 and Graviton 3, 16 at 512 bits on A64FX). The same machine
// code runs all three; the tile's width, and so the packed B sliver's, is set at run time.
//
// Per step p: three B loads (3VL floats), two ld1rq loads of A that repeat A's 4 + 4 values in
// every 128-bit segment, and 24 FMLAs "by element": FMLA (indexed) takes its multiplier from
// one lane of each 128-bit segment, and with A repeated in every segment that lane is the
// same row value across the whole vector, so no broadcast is needed (NEON's trick, at any
// width). 24 accumulators + 3 B + 2 A = 29 of SVE's 32 vector registers.
//
// The packed driver holds tiles of at most 64 columns, so vectors wider than 512 bits (no
// shipping core has one) run the NEON kernel instead.
#include "kernels/cpu/gemm/packed.h"
#include "kernels/cpu/isa_targets.h"

#if FLOPSLAB_HAVE_SVE_KERNELS
#pragma GCC push_options
#pragma GCC target("+sve")
#include <arm_sve.h>
#pragma GCC pop_options

namespace flopslab::gemm::packed {
namespace {

constexpr int kMr = 8, kVectors = 3;

// SVE registers have no size at compile time, so they cannot form arrays: the 8 rows of 3
// accumulators are spelled out by these macros.
#define FLOPSLAB_SVE_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)
#define FLOPSLAB_SVE_ZERO(r) svfloat32_t c##r##_0 = zero, c##r##_1 = zero, c##r##_2 = zero;
// Row r's multiplier: lane r % 4 of the low (rows 0-3) or high (rows 4-7) quadword of A.
#define FLOPSLAB_SVE_STEP(r)                                         \
  {                                                                  \
    const svfloat32_t a_q = (r) < 4 ? a_lo : a_hi;                   \
    c##r##_0 = svmla_lane_f32(c##r##_0, b0, a_q, (r) % 4);           \
    c##r##_1 = svmla_lane_f32(c##r##_1, b1, a_q, (r) % 4);           \
    c##r##_2 = svmla_lane_f32(c##r##_2, b2, a_q, (r) % 4);           \
  }
#define FLOPSLAB_SVE_STORE(r)                                                                   \
  {                                                                                             \
    float* c_row = c + (r) * ldc;                                                               \
    if (accumulate) {                                                                           \
      c##r##_0 = svadd_f32_x(all, c##r##_0, svld1_f32(all, c_row));                             \
      c##r##_1 = svadd_f32_x(all, c##r##_1, svld1_vnum_f32(all, c_row, 1));                     \
      c##r##_2 = svadd_f32_x(all, c##r##_2, svld1_vnum_f32(all, c_row, 2));                     \
    }                                                                                           \
    svst1_f32(all, c_row, c##r##_0);                                                            \
    svst1_vnum_f32(all, c_row, 1, c##r##_1);                                                    \
    svst1_vnum_f32(all, c_row, 2, c##r##_2);                                                    \
  }

__attribute__((target("+sve"))) void micro_8x3vl(std::int64_t kc, const float* a, const float* b, float* c,
                                                 std::int64_t ldc, bool accumulate) {
  const svbool_t all = svptrue_b32();
  const std::int64_t nr = kVectors * std::int64_t(svcntw());
  const svfloat32_t zero = svdup_n_f32(0.0f);
  FLOPSLAB_SVE_ROWS(FLOPSLAB_SVE_ZERO)
  for (std::int64_t p = 0; p < kc; ++p) {
    const svfloat32_t b0 = svld1_f32(all, b), b1 = svld1_vnum_f32(all, b, 1), b2 = svld1_vnum_f32(all, b, 2);
    const svfloat32_t a_lo = svld1rq_f32(all, a), a_hi = svld1rq_f32(all, a + 4);
    FLOPSLAB_SVE_ROWS(FLOPSLAB_SVE_STEP)
    a += kMr;
    b += nr;
  }
  FLOPSLAB_SVE_ROWS(FLOPSLAB_SVE_STORE)
}

#undef FLOPSLAB_SVE_ROWS
#undef FLOPSLAB_SVE_ZERO
#undef FLOPSLAB_SVE_STEP
#undef FLOPSLAB_SVE_STORE

}  // namespace

const MicroKernel& micro_kernel_sve() {
  static const MicroKernel kernel = [] {
    const int lanes = cpu_features().sve_bits / 32;
    if (!cpu_features().can_sve() || kVectors * lanes > 64) return kMicroKernelNeon;
    return MicroKernel{SimdPath::sve, kMr, kVectors * lanes, micro_8x3vl};
  }();
  return kernel;
}

}  // namespace flopslab::gemm::packed
#else
namespace flopslab::gemm::packed {
// Not aarch64 (never selected), or a compiler that cannot build SVE per function: NEON.
const MicroKernel& micro_kernel_sve() { return kMicroKernelNeon; }
}
#endif
