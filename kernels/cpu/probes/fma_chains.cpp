// The multiply-add throughput loops per instruction set, with independent accumulator chains.
#include "kernels/cpu/probes/fma_chains.h"

#include <cstring>

#include "kernels/cpu/cpu_features.h"

namespace flopslab::probes {
namespace {

// GCC vector types: arithmetic on them compiles to one SIMD instruction per operation, and
// with -ffp-contract=fast `acc * x + y` becomes a single FMA.
typedef float f32x4 __attribute__((vector_size(16)));
typedef float f32x8 __attribute__((vector_size(32)));
typedef float f32x16 __attribute__((vector_size(64)));
typedef double f64x2 __attribute__((vector_size(16)));
typedef double f64x4 __attribute__((vector_size(32)));
typedef double f64x8 __attribute__((vector_size(64)));

template <class V, class T, int kLanes, int kChains>
[[gnu::always_inline]] inline double fma_chains(std::int64_t iterations) {
  // x slightly below 1 and a small y: each chain converges to y / (1 - x) ~ 1, so values stay
  // normal (denormals would be slow) and never overflow. Read through volatiles so the
  // compiler cannot evaluate a chain at compile time (it folds one that starts at its fixed
  // point).
  static volatile T x_seed = T(0.999999), y_seed = T(1e-6);
  const V x = V{} + x_seed, y = V{} + y_seed;
  V acc[kChains];
#pragma GCC unroll 32
  for (int a = 0; a < kChains; ++a) acc[a] = V{} + T(1 + a * 1e-3);
  for (std::int64_t i = 0; i < iterations; ++i) {
#pragma GCC unroll 32
    for (int a = 0; a < kChains; ++a) acc[a] = acc[a] * x + y;
  }
  double sum = 0;
  for (int a = 0; a < kChains; ++a)
    for (int l = 0; l < kLanes; ++l) sum += double(reinterpret_cast<const T*>(&acc[a])[l]);
  return sum;
}

// Scalar loops must stay scalar: without this the SLP vectoriser packs the chains into SIMD
// registers and the "scalar" line measures SIMD.
#define FLOPSLAB_NO_VECTORIZE __attribute__((optimize("no-tree-vectorize", "no-tree-slp-vectorize")))

__attribute__((target("fma"))) FLOPSLAB_NO_VECTORIZE double scalar_fp32(std::int64_t n) {
  return fma_chains<float, float, 1, 12>(n);
}
__attribute__((target("fma"))) FLOPSLAB_NO_VECTORIZE double scalar_fp64(std::int64_t n) {
  return fma_chains<double, double, 1, 12>(n);
}
__attribute__((target("fma"))) double sse_fp32(std::int64_t n) { return fma_chains<f32x4, float, 4, 12>(n); }
__attribute__((target("fma"))) double sse_fp64(std::int64_t n) { return fma_chains<f64x2, double, 2, 12>(n); }
__attribute__((target("avx2,fma"))) double avx2_fp32(std::int64_t n) { return fma_chains<f32x8, float, 8, 12>(n); }
__attribute__((target("avx2,fma"))) double avx2_fp64(std::int64_t n) { return fma_chains<f64x4, double, 4, 12>(n); }
__attribute__((target("avx512f,fma"))) double avx512_fp32(std::int64_t n) { return fma_chains<f32x16, float, 16, 24>(n); }
__attribute__((target("avx512f,fma"))) double avx512_fp64(std::int64_t n) { return fma_chains<f64x8, double, 8, 24>(n); }

// Without FMA in the target the compiler cannot contract acc * x + y: a multiply, then an add.
FLOPSLAB_NO_VECTORIZE double scalar_fp32_mul_add(std::int64_t n) { return fma_chains<float, float, 1, 12>(n); }
FLOPSLAB_NO_VECTORIZE double scalar_fp64_mul_add(std::int64_t n) { return fma_chains<double, double, 1, 12>(n); }
double sse_fp32_mul_add(std::int64_t n) { return fma_chains<f32x4, float, 4, 12>(n); }
double sse_fp64_mul_add(std::int64_t n) { return fma_chains<f64x2, double, 2, 12>(n); }
__attribute__((target("avx"))) double avx_fp32_mul_add(std::int64_t n) { return fma_chains<f32x8, float, 8, 12>(n); }
__attribute__((target("avx"))) double avx_fp64_mul_add(std::int64_t n) { return fma_chains<f64x4, double, 4, 12>(n); }

bool has_fma() { return cpu_features().fma; }
bool lacks_fma() { return !cpu_features().fma; }
bool has_avx_without_fma() { return cpu_features().avx && !cpu_features().fma; }
bool has_avx2_fma() { return cpu_features().can_avx2_fma(); }
bool has_avx512() { return cpu_features().can_avx512() && cpu_features().fma; }

using P = Precision;
const FmaLoop kLoops[] = {
    {"scalar-fp32", "scalar", 32, P::fp32, 1, 12, true, has_fma, scalar_fp32},
    {"scalar-fp32", "scalar", 32, P::fp32, 1, 12, false, lacks_fma, scalar_fp32_mul_add},
    {"scalar-fp64", "scalar", 64, P::fp64, 1, 12, true, has_fma, scalar_fp64},
    {"scalar-fp64", "scalar", 64, P::fp64, 1, 12, false, lacks_fma, scalar_fp64_mul_add},
    {"sse-fp32", "sse (128-bit)", 128, P::fp32, 4, 12, true, has_fma, sse_fp32},
    {"sse-fp32", "sse (128-bit)", 128, P::fp32, 4, 12, false, lacks_fma, sse_fp32_mul_add},
    {"sse-fp64", "sse (128-bit)", 128, P::fp64, 2, 12, true, has_fma, sse_fp64},
    {"sse-fp64", "sse (128-bit)", 128, P::fp64, 2, 12, false, lacks_fma, sse_fp64_mul_add},
    {"avx-fp32", "avx (256-bit)", 256, P::fp32, 8, 12, false, has_avx_without_fma, avx_fp32_mul_add},
    {"avx-fp64", "avx (256-bit)", 256, P::fp64, 4, 12, false, has_avx_without_fma, avx_fp64_mul_add},
    {"avx2-fp32", "avx2 (256-bit)", 256, P::fp32, 8, 12, true, has_avx2_fma, avx2_fp32},
    {"avx2-fp64", "avx2 (256-bit)", 256, P::fp64, 4, 12, true, has_avx2_fma, avx2_fp64},
    {"avx512-fp32", "avx-512 (512-bit)", 512, P::fp32, 16, 24, true, has_avx512, avx512_fp32},
    {"avx512-fp64", "avx-512 (512-bit)", 512, P::fp64, 8, 24, true, has_avx512, avx512_fp64},
};

}  // namespace

std::span<const FmaLoop> fma_loops() { return kLoops; }

const FmaLoop* find_fma_loop(const char* name) {
  const FmaLoop* first = nullptr;
  for (const FmaLoop& loop : kLoops) {
    if (std::strcmp(loop.name, name) != 0) continue;
    if (loop.supported()) return &loop;
    if (first == nullptr) first = &loop;
  }
  return first;
}

const FmaLoop& widest_fma_loop(Precision precision) {
  const FmaLoop* best = nullptr;
  for (const FmaLoop& loop : kLoops)
    if (loop.precision == precision && loop.supported()) best = &loop;
  // The scalar loops run everywhere, fused or not; the fallback is for other architectures
  // until they have loops of their own (the caller checks supported() before running).
  return best != nullptr ? *best : kLoops[precision == Precision::fp32 ? 0 : 2];
}

}  // namespace flopslab::probes
