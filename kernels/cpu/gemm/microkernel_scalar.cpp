// Portable micro-kernel for CPUs without AVX2+FMA: a 4 x 8 tile in plain C++. The compiler
// may still use SSE2 (baseline x86-64) for it; no ISA beyond the baseline is assumed.
#include "kernels/cpu/gemm/packed.h"

namespace flopslab::gemm::packed {
namespace {

constexpr int kMr = 4, kNr = 8;

void micro_4x8(std::int64_t kc, const float* a, const float* b, float* c, std::int64_t ldc,
               bool accumulate) {
  float acc[kMr][kNr] = {};
  for (std::int64_t p = 0; p < kc; ++p) {
    for (int r = 0; r < kMr; ++r)
      for (int j = 0; j < kNr; ++j) acc[r][j] += a[r] * b[j];
    a += kMr;
    b += kNr;
  }
  for (int r = 0; r < kMr; ++r)
    for (int j = 0; j < kNr; ++j) c[r * ldc + j] = (accumulate ? c[r * ldc + j] : 0.0f) + acc[r][j];
}

}  // namespace

const MicroKernel kMicroKernelScalar{SimdPath::scalar, kMr, kNr, micro_4x8};

}  // namespace flopslab::gemm::packed
