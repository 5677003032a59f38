// The multiply-add throughput loops per instruction set, with independent accumulator chains.
#include "kernels/cpu/probes/fma_chains.h"

#include <cstring>
#include <mutex>

#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/isa_targets.h"

#if defined(__x86_64__)
#include <immintrin.h>
#elif FLOPSLAB_HAVE_ARM_BF16_KERNELS
#include <arm_neon.h>
#endif

#if FLOPSLAB_HAVE_SVE_KERNELS
#pragma GCC push_options
#pragma GCC target("+sve")
#include <arm_sve.h>
#pragma GCC pop_options
#endif

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
// registers and the "scalar" line measures SIMD. Clang has no such function attribute: it
// compiles this whole file without auto-vectorisation (kernels/CMakeLists.txt), which leaves
// the explicit vector types below as they are.
#if defined(__clang__)
#define FLOPSLAB_NO_VECTORIZE
#else
#define FLOPSLAB_NO_VECTORIZE __attribute__((optimize("no-tree-vectorize", "no-tree-slp-vectorize")))
#endif

FLOPSLAB_TARGET_FMA FLOPSLAB_NO_VECTORIZE double scalar_fp32(std::int64_t n) {
  return fma_chains<float, float, 1, 12>(n);
}
FLOPSLAB_TARGET_FMA FLOPSLAB_NO_VECTORIZE double scalar_fp64(std::int64_t n) {
  return fma_chains<double, double, 1, 12>(n);
}
FLOPSLAB_TARGET_FMA double sse_fp32(std::int64_t n) { return fma_chains<f32x4, float, 4, 12>(n); }
FLOPSLAB_TARGET_FMA double sse_fp64(std::int64_t n) { return fma_chains<f64x2, double, 2, 12>(n); }
FLOPSLAB_TARGET_AVX2_FMA double avx2_fp32(std::int64_t n) { return fma_chains<f32x8, float, 8, 12>(n); }
FLOPSLAB_TARGET_AVX2_FMA double avx2_fp64(std::int64_t n) { return fma_chains<f64x4, double, 4, 12>(n); }
FLOPSLAB_TARGET_AVX512_FMA double avx512_fp32(std::int64_t n) { return fma_chains<f32x16, float, 16, 24>(n); }
FLOPSLAB_TARGET_AVX512_FMA double avx512_fp64(std::int64_t n) { return fma_chains<f64x8, double, 8, 24>(n); }

// Without FMA in the target the compiler cannot contract acc * x + y: a multiply, then an add.
FLOPSLAB_NO_VECTORIZE double scalar_fp32_mul_add(std::int64_t n) { return fma_chains<float, float, 1, 12>(n); }
FLOPSLAB_NO_VECTORIZE double scalar_fp64_mul_add(std::int64_t n) { return fma_chains<double, double, 1, 12>(n); }
double sse_fp32_mul_add(std::int64_t n) { return fma_chains<f32x4, float, 4, 12>(n); }
double sse_fp64_mul_add(std::int64_t n) { return fma_chains<f64x2, double, 2, 12>(n); }
FLOPSLAB_TARGET_AVX double avx_fp32_mul_add(std::int64_t n) { return fma_chains<f32x8, float, 8, 12>(n); }
FLOPSLAB_TARGET_AVX double avx_fp64_mul_add(std::int64_t n) { return fma_chains<f64x4, double, 4, 12>(n); }

// bf16 pair dot products: every chain starts at 1 + a/1000 and gains a0*b0 + a1*b1 = 2 x 2^-20
// per iteration, exact in fp32 (see bf16_gain_per_iteration), so the sum tells that every
// instruction did both products; a constant operand is as fast as any other.
constexpr std::uint16_t kBf16TwoToMinus10 = 0x3A80;  // sign 0, exponent 127 - 10, mantissa 0

#if defined(__x86_64__)
__attribute__((target("avx512f,avx512bw,avx512bf16"))) double avx512_bf16_dot(std::int64_t n) {
  static volatile std::uint16_t operand_bits = kBf16TwoToMinus10;
  const __m512bh v = (__m512bh)_mm512_set1_epi16(short(operand_bits));
  __m512 acc[24];
#pragma GCC unroll 24
  for (int a = 0; a < 24; ++a) acc[a] = _mm512_set1_ps(1.0f + float(a) * 1e-3f);
  for (std::int64_t i = 0; i < n; ++i) {
#pragma GCC unroll 24
    for (int a = 0; a < 24; ++a) acc[a] = _mm512_dpbf16_ps(acc[a], v, v);
  }
  double sum = 0;
  alignas(64) float lanes[16];
  for (int a = 0; a < 24; ++a) {
    _mm512_store_ps(lanes, acc[a]);
    for (float lane : lanes) sum += double(lane);
  }
  return sum;
}
bool has_avx512_bf16() { return cpu_features().avx512_bf16 && cpu_features().can_avx512(); }

// AMX (Intel Xeon from Sapphire Rapids): TDPBF16PS multiplies a 16 x 32 bf16 tile by a 32 x 16
// one (held as 16 rows of 16 bf16 pairs) into a 16 x 16 fp32 tile: each of the 256 lanes adds
// 32 products, 8192 multiply-adds per instruction. Six accumulator tiles chain (tmm0-5); tmm6
// and tmm7 hold the operands, every value 2^-10 as above. The tile configuration and the
// operands are constants in memory: ldtilecfg and tileloadd read memory the compiler does not
// see them read, so a local buffer's stores could be dropped as dead.
struct alignas(64) AmxTileConfig {
  std::uint8_t palette, start_row, reserved[14];
  std::uint16_t bytes_per_row[16];
  std::uint8_t rows[16];
};
constexpr AmxTileConfig amx_config() {
  AmxTileConfig c{};
  c.palette = 1;  // 8 tiles of at most 16 rows x 64 bytes
  for (int t = 0; t < 8; ++t) c.bytes_per_row[t] = 64, c.rows[t] = 16;
  return c;
}
struct alignas(64) AmxOperand {
  std::uint16_t bf16[16 * 32];
};
constexpr AmxOperand amx_operand() {
  AmxOperand a{};
  for (std::uint16_t& x : a.bf16) x = kBf16TwoToMinus10;
  return a;
}
constexpr AmxTileConfig kAmxConfig = amx_config();
constexpr AmxOperand kAmxOperand = amx_operand();

__attribute__((target("amx-tile,amx-bf16"))) double amx_bf16_chains(std::int64_t n) {
  _tile_loadconfig(&kAmxConfig);
  _tile_loadd(6, kAmxOperand.bf16, 64);
  _tile_loadd(7, kAmxOperand.bf16, 64);
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  _tile_zero(4);
  _tile_zero(5);
  for (std::int64_t i = 0; i < n; ++i) {
    _tile_dpbf16ps(0, 6, 7);
    _tile_dpbf16ps(1, 6, 7);
    _tile_dpbf16ps(2, 6, 7);
    _tile_dpbf16ps(3, 6, 7);
    _tile_dpbf16ps(4, 6, 7);
    _tile_dpbf16ps(5, 6, 7);
  }
  alignas(64) float c[6][16 * 16];
  _tile_stored(0, c[0], 64);
  _tile_stored(1, c[1], 64);
  _tile_stored(2, c[2], 64);
  _tile_stored(3, c[3], 64);
  _tile_stored(4, c[4], 64);
  _tile_stored(5, c[5], 64);
  _tile_release();
  double sum = 0;
  for (const auto& tile : c)
    for (float x : tile) sum += double(x);
  return sum;
}
// The tiles need AMX-TILE and AMX-BF16, and the Linux kernel's leave to use their state.
bool has_amx_bf16() { return cpu_features().amx_bf16 && request_amx_permission(); }
#endif

#if defined(__aarch64__)
constexpr bool kX86 = false;
// NEON: 32 registers of 128 bits, FMLA on two to four pipes of 4-cycle latency: 24 chains.
double neon_fp32(std::int64_t n) { return fma_chains<f32x4, float, 4, 24>(n); }
double neon_fp64(std::int64_t n) { return fma_chains<f64x2, double, 2, 24>(n); }

#if FLOPSLAB_HAVE_SVE_KERNELS
// SVE, vector-length agnostic: the same code runs 128- to 2048-bit vectors, svcnt*() lanes
// each. Its register types have no size at compile time, so they cannot form an array: the
// 24 chains are spelled out.
#define FLOPSLAB_CHAINS24(X) \
  X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13) X(14) X(15) X(16) X(17) X(18) X(19) X(20) X(21) X(22) X(23)
#define FLOPSLAB_SVE_FMA_LOOP(name, T, sv_t, suffix, ptrue)                  \
  __attribute__((target("+sve"))) double name(std::int64_t n) {             \
    using Scalar = T;                                                      \
    using V = sv_t;                                                        \
    static volatile Scalar x_seed = Scalar(0.999999), y_seed = Scalar(1e-6); \
    const svbool_t all = ptrue();                                          \
    const V x = svdup_##suffix(x_seed), y = svdup_##suffix(y_seed);        \
    const V one = svdup_##suffix(Scalar(1));                               \
    FLOPSLAB_CHAINS24(FLOPSLAB_SVE_INIT)                                   \
    for (std::int64_t i = 0; i < n; ++i) {                                 \
      FLOPSLAB_CHAINS24(FLOPSLAB_SVE_STEP)                                 \
    }                                                                      \
    double sum = 0;                                                        \
    FLOPSLAB_CHAINS24(FLOPSLAB_SVE_SUM)                                    \
    return sum;                                                            \
  }
// The overloaded ACLE forms, so one spelling serves both precisions.
#define FLOPSLAB_SVE_INIT(a) V acc##a = svadd_x(all, one, Scalar(a * 1e-3));
#define FLOPSLAB_SVE_STEP(a) acc##a = svmla_x(all, y, acc##a, x); /* y + acc * x */
#define FLOPSLAB_SVE_SUM(a) sum += double(svaddv(all, acc##a));
FLOPSLAB_SVE_FMA_LOOP(sve_fp32, float, svfloat32_t, f32, svptrue_b32)
FLOPSLAB_SVE_FMA_LOOP(sve_fp64, double, svfloat64_t, f64, svptrue_b64)

#endif

#if FLOPSLAB_HAVE_ARM_BF16_KERNELS
// 24 chains of one bf16 instruction on 128-bit registers, 4 fp32 lanes each: BFDOT adds one
// pair product per lane, BFMMLA a 2 x 4 by 4 x 2 block product to its 2 x 2 block, 4 products
// per lane (the GEMM rung's instruction).
template <bool kBlock>
__attribute__((target("arch=armv8.2-a+bf16"))) double neon_bf16_chains(std::int64_t n) {
  static volatile std::uint16_t operand_bits = kBf16TwoToMinus10;
  const bfloat16x8_t v = vreinterpretq_bf16_u16(vdupq_n_u16(operand_bits));
  float32x4_t acc[24];
#pragma GCC unroll 24
  for (int a = 0; a < 24; ++a) acc[a] = vdupq_n_f32(1.0f + float(a) * 1e-3f);
  for (std::int64_t i = 0; i < n; ++i) {
#pragma GCC unroll 24
    for (int a = 0; a < 24; ++a) acc[a] = kBlock ? vbfmmlaq_f32(acc[a], v, v) : vbfdotq_f32(acc[a], v, v);
  }
  double sum = 0;
  for (int a = 0; a < 24; ++a) sum += double(vaddvq_f32(acc[a]));
  return sum;
}
double neon_bf16_dot(std::int64_t n) { return neon_bf16_chains<false>(n); }
double neon_bf16_mmla(std::int64_t n) { return neon_bf16_chains<true>(n); }
bool has_neon_bf16() { return cpu_features().neon && cpu_features().arm_bf16; }
#endif

bool has_neon() { return cpu_features().neon; }
[[maybe_unused]] bool has_sve() { return FLOPSLAB_HAVE_SVE_KERNELS && cpu_features().can_sve(); }
#else
constexpr bool kX86 = true;
#endif

// Scalar FMA is in every aarch64 core; on x86 it comes with the FMA extension. The SSE and
// AVX loops are x86's only.
bool has_fma() { return !kX86 || cpu_features().fma; }
bool lacks_fma() { return kX86 && !cpu_features().fma; }
bool has_sse_fma() { return kX86 && cpu_features().fma; }
bool has_avx_without_fma() { return cpu_features().avx && !cpu_features().fma; }
bool has_avx2_fma() { return cpu_features().can_avx2_fma(); }
bool has_avx512() { return cpu_features().can_avx512() && cpu_features().fma; }

using P = Precision;
FmaLoop kLoops[] = {
    {"scalar-fp32", "scalar", 32, P::fp32, 1, 12, true, has_fma, scalar_fp32},
    {"scalar-fp32", "scalar", 32, P::fp32, 1, 12, false, lacks_fma, scalar_fp32_mul_add},
    {"scalar-fp64", "scalar", 64, P::fp64, 1, 12, true, has_fma, scalar_fp64},
    {"scalar-fp64", "scalar", 64, P::fp64, 1, 12, false, lacks_fma, scalar_fp64_mul_add},
    {"sse-fp32", "sse (128-bit)", 128, P::fp32, 4, 12, true, has_sse_fma, sse_fp32},
    {"sse-fp32", "sse (128-bit)", 128, P::fp32, 4, 12, false, lacks_fma, sse_fp32_mul_add},
    {"sse-fp64", "sse (128-bit)", 128, P::fp64, 2, 12, true, has_sse_fma, sse_fp64},
    {"sse-fp64", "sse (128-bit)", 128, P::fp64, 2, 12, false, lacks_fma, sse_fp64_mul_add},
    {"avx-fp32", "avx (256-bit)", 256, P::fp32, 8, 12, false, has_avx_without_fma, avx_fp32_mul_add},
    {"avx-fp64", "avx (256-bit)", 256, P::fp64, 4, 12, false, has_avx_without_fma, avx_fp64_mul_add},
    {"avx2-fp32", "avx2 (256-bit)", 256, P::fp32, 8, 12, true, has_avx2_fma, avx2_fp32},
    {"avx2-fp64", "avx2 (256-bit)", 256, P::fp64, 4, 12, true, has_avx2_fma, avx2_fp64},
    {"avx512-fp32", "avx-512 (512-bit)", 512, P::fp32, 16, 24, true, has_avx512, avx512_fp32},
    {"avx512-fp64", "avx-512 (512-bit)", 512, P::fp64, 8, 24, true, has_avx512, avx512_fp64},
#if defined(__x86_64__)
    {"avx512-bf16", "avx512_bf16 (512-bit)", 512, P::bf16, 16, 24, true, has_avx512_bf16, avx512_bf16_dot, 2},
    // One TDPBF16PS per 16 cycles per core (Intel's 1024 bf16 FLOP per cycle and core).
    {"amx-bf16", "amx (16 x 16 tiles)", 8192, P::bf16, 256, 6, true, has_amx_bf16, amx_bf16_chains, 32, 16},
#endif
#if defined(__aarch64__)
    {"neon-fp32", "neon (128-bit)", 128, P::fp32, 4, 24, true, has_neon, neon_fp32},
    {"neon-fp64", "neon (128-bit)", 128, P::fp64, 2, 24, true, has_neon, neon_fp64},
    // Width and lanes are this process's SVE vector length, set on first use (loops()).
#if FLOPSLAB_HAVE_SVE_KERNELS
    {"sve-fp32", "sve", 0, P::fp32, 0, 24, true, has_sve, sve_fp32},
    {"sve-fp64", "sve", 0, P::fp64, 0, 24, true, has_sve, sve_fp64},
#endif
#if FLOPSLAB_HAVE_ARM_BF16_KERNELS
    {"neon-bf16", "neon bf16 (128-bit)", 128, P::bf16, 4, 24, true, has_neon_bf16, neon_bf16_dot, 2},
    {"neon-bf16-mmla", "neon bf16 mmla (128-bit)", 128, P::bf16, 4, 24, true, has_neon_bf16, neon_bf16_mmla, 4},
#endif
#endif
};

std::span<const FmaLoop> loops() {
  static std::once_flag sized;
  std::call_once(sized, [] {
    for (FmaLoop& loop : kLoops)
      if (loop.vector_bits == 0) {
        const int bits = cpu_features().sve_bits;
        loop.vector_bits = bits;
        loop.lanes = bits / (loop.precision == P::fp32 ? 32 : 64);
      }
  });
  return kLoops;
}

}  // namespace

std::span<const FmaLoop> fma_loops() { return loops(); }

const FmaLoop* find_fma_loop(const char* name) {
  const FmaLoop* first = nullptr;
  for (const FmaLoop& loop : loops()) {
    if (std::strcmp(loop.name, name) != 0) continue;
    if (loop.supported()) return &loop;
    if (first == nullptr) first = &loop;
  }
  return first;
}

const FmaLoop& widest_fma_loop(Precision precision) {
  const FmaLoop* best = nullptr;
  for (const FmaLoop& loop : loops())
    if (loop.precision == precision && loop.supported()) best = &loop;
  if (best != nullptr) return *best;
  // The scalar fp32 and fp64 loops run on every CPU, fused or not, so only bf16 gets here: its
  // first loop, unsupported (the caller checks supported() before running).
  for (const FmaLoop& loop : loops())
    if (loop.precision == precision) return loop;
  return kLoops[0];
}

}  // namespace flopslab::probes
