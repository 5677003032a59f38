// Micro-kernel for CPUs without AVX2+FMA (baseline x86-64's SSE2, FLOPSLAB_SIMD=scalar): a
// 3 x 16 tile in 128-bit vectors, GCC's vector types, which become SSE2 on x86-64 (and NEON on
// aarch64). Twelve accumulators (3 rows x 4 vectors), four B vectors and one broadcast A value
// take 17 of SSE's 16 vector registers, less the B vector the last row reads from memory; each
// k step issues 12 multiplies and 12 adds, 12 independent chains, enough to cover an add's
// latency on a multiply and an add pipe, and only 3 broadcasts (SSE has no broadcast load:
// each is a load and a shuffle). Measured under FLOPSLAB_SIMD=scalar on a Zen 4: 3 x 16 at 67%
// of the mul+add peak, 4 x 12 at 65%, 6 x 8 at 62%, the plain 4 x 8 loop this replaced at 56%.
// No ISA beyond the baseline is assumed.
#include "kernels/cpu/gemm/packed.h"

namespace flopslab::gemm::packed {
namespace {

typedef float f32x4 __attribute__((vector_size(16)));
constexpr int kMr = 3, kNr = 16;

f32x4 load(const float* p) {  // the packed B sliver is 64-byte aligned, so every 16 bytes are
  return *reinterpret_cast<const f32x4*>(__builtin_assume_aligned(p, 16));
}

void micro_3x16(std::int64_t kc, const float* a, const float* b, float* c, std::int64_t ldc, bool accumulate) {
  f32x4 acc[kMr][4] = {};
  for (std::int64_t p = 0; p < kc; ++p) {
    const f32x4 b0 = load(b + 0), b1 = load(b + 4), b2 = load(b + 8), b3 = load(b + 12);
#pragma GCC unroll 8
    for (int r = 0; r < kMr; ++r) {
      const f32x4 ar = {a[r], a[r], a[r], a[r]};  // a broadcast (0 + a would cost an add)
      acc[r][0] += ar * b0;
      acc[r][1] += ar * b1;
      acc[r][2] += ar * b2;
      acc[r][3] += ar * b3;
    }
    a += kMr;
    b += kNr;
  }
  for (int r = 0; r < kMr; ++r)
    for (int j = 0; j < kNr; ++j)
      c[r * ldc + j] = (accumulate ? c[r * ldc + j] : 0.0f) + acc[r][j / 4][j % 4];
}

}  // namespace

const MicroKernel kMicroKernelScalar{SimdPath::scalar, kMr, kNr, micro_3x16};

}  // namespace flopslab::gemm::packed
