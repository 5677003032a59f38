// Step 6: bf16 inputs, float32 sums (mixed precision).
//
// Step 5 is bound by the FMA units: one vfmadd231ps does 16 multiply-adds per 512-bit
// register. CPUs with AVX512_BF16 (AMD Zen 4 and 5, Intel Cooper Lake and Sapphire Rapids
// onwards) have vdpbf16ps, which takes 32 bf16 values per register as 16 pairs and adds both
// pair products into one float32 lane: 32 multiply-adds per instruction, on operands half the
// bytes. The price is the inputs' precision: bf16 keeps 8 significant bits (relative rounding
// 2^-8 against float32's 2^-24), while the products are exact and the sums stay float32.
//
// Packing does the conversion: each slot of a packed panel holds the bf16 values of two
// consecutive k, A[i][2q] and A[i][2q+1] (B[2q][j] and B[2q+1][j]), so the micro-kernel
// broadcasts one 32-bit slot of A and multiplies it with a 32-column row of B slots. The loop
// structure, threads and edge handling are step 5's (packed_driver.h).
//
// aarch64 cores with FEAT_BF16 (Neoverse V1/V2/N2, Graviton 3/4, Grace, Apple M2 on) have
// BFDOT, the NEON form of the same pair dot product: 8 multiply-adds per 128-bit instruction
// against FMLA's 4. The same pair packing feeds an 8 x 12 kernel with NEON's by-element form,
// the A pair chosen by lane, so A needs no broadcast. (BFMMLA, a 2x4 by 4x2 block product,
// does 16 per instruction on the cores that issue it at full rate; it needs a different
// packing and is not here yet.)
//
// Without either instruction the same products are computed by rounding the operands to bf16
// while packing and running step 5's float32 micro-kernel: the same numbers, no speed-up.
#include <string>

#include "kernels/cpu/gemm/packed_driver.h"
#include "kernels/cpu/isa_targets.h"
#include "kernels/registry.h"

#if defined(__x86_64__)
#include <immintrin.h>

#include "kernels/cpu/gemm/tile_avx512.h"
#elif defined(__aarch64__)
#include <arm_neon.h>
#endif

namespace flopslab::gemm::packed {
namespace {

#if defined(__aarch64__)
constexpr bool kOnArm = true;
constexpr int kMr = 8, kNr = 12;
#else
constexpr bool kOnArm = false;
constexpr int kMr = 12, kNr = 32;
#endif

[[maybe_unused]] inline std::uint32_t pair(float low_k, float high_k) {
  return std::uint32_t(bf16_from_float(low_k)) | std::uint32_t(bf16_from_float(high_k)) << 16;
}

#if defined(__x86_64__)
// A 12 x 32 tile of C in 24 ZMM accumulators; per slot row two B loads, twelve broadcasts,
// twenty-four vdpbf16ps (768 multiply-adds, twice step 5's 384 per row of k).
__attribute__((target("avx512f,avx512bw,avx512bf16"))) void micro_bf16_12x32(std::int64_t depth, const std::uint32_t* a,
                                                                              const std::uint32_t* b, float* c,
                                                                              std::int64_t ldc, bool accumulate) {
  __m512 acc[kMr][2];
  prefetch_tile_12x32(c, ldc);
#pragma GCC unroll 12
  for (int r = 0; r < kMr; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
  for (std::int64_t q = 0; q < depth; ++q) {
    const __m512bh b0 = (__m512bh)_mm512_load_si512(b);
    const __m512bh b1 = (__m512bh)_mm512_load_si512(b + 16);
#pragma GCC unroll 12
    for (int r = 0; r < kMr; ++r) {
      const __m512bh a_r = (__m512bh)_mm512_set1_epi32(int(a[r]));
      acc[r][0] = _mm512_dpbf16_ps(acc[r][0], a_r, b0);
      acc[r][1] = _mm512_dpbf16_ps(acc[r][1], a_r, b1);
    }
    a += kMr;
    b += kNr;
  }
  store_tile_12x32(acc, c, ldc, accumulate);
}
#endif

#if defined(__x86_64__)
// Packing converts with vcvtne2ps2bf16 (round to nearest even, 32 values per instruction); the
// scalar bf16_from_float would cost as much as the multiplication on a 1024^3 product.
//
// 16 columns of two k rows into 16 pair slots: convert both rows into one register (row 0 in
// the low half), then interleave the halves so that slot j holds (row0[j], row1[j]).
__attribute__((target("avx512f,avx512bw,avx512bf16"))) void pack_b_pairs(const float* row0, const float* row1,
                                                                          std::uint32_t* dst) {
  alignas(64) static const std::uint16_t interleave[32] = {0, 16, 1, 17, 2,  18, 3,  19, 4,  20, 5,
                                                           21, 6, 22, 7, 23, 8, 24, 9,  25, 10, 26,
                                                           11, 27, 12, 28, 13, 29, 14, 30, 15, 31};
  const __m512i order = _mm512_load_si512(interleave);
  for (int j = 0; j < kNr; j += 16) {
    const __m512i both = (__m512i)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(row1 + j), _mm512_loadu_ps(row0 + j));
    _mm512_store_si512(dst + j, _mm512_permutexvar_epi16(order, both));
  }
}

// One row of A, 32 consecutive k at a time: converted in order, the 16 32-bit lanes are
// already the pairs (k, k+1) of 16 slot rows; each goes to its slot row's place for this row.
__attribute__((target("avx512f,avx512bw,avx512bf16"))) void pack_a_pairs(const float* a, std::int64_t lda,
                                                                          std::int64_t rows, std::int64_t kc,
                                                                          std::uint32_t* dst) {
  const std::int64_t vector_kc = kc / 32 * 32;
  for (int r = 0; r < kMr; ++r) {
    if (r >= rows) {  // below the last row: zeros
      for (std::int64_t q = 0; q < (kc + 1) / 2; ++q) dst[q * kMr + r] = 0;
      continue;
    }
    const float* row = a + r * lda;
    alignas(64) std::uint32_t slots[16];
    for (std::int64_t p = 0; p < vector_kc; p += 32) {
      _mm512_store_si512(slots, (__m512i)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(row + p + 16), _mm512_loadu_ps(row + p)));
      for (int i = 0; i < 16; ++i) dst[(p / 2 + i) * kMr + r] = slots[i];
    }
    for (std::int64_t p = vector_kc; p < kc; p += 2) dst[(p / 2) * kMr + r] = pair(row[p], p + 1 < kc ? row[p + 1] : 0.0f);
  }
}
#endif

#if FLOPSLAB_HAVE_ARM_BF16_KERNELS
// An 8 x 12 tile of C in 24 NEON accumulators. Per slot row: three B loads (12 column pairs),
// two A loads (8 row pairs), 24 BFDOTs, each adding B's 4 column pairs times one row's pair.
template <int kLane>
[[gnu::always_inline, gnu::target("arch=armv8.2-a+bf16")]] inline void bf16_row(float32x4_t (&acc)[3], bfloat16x8_t a,
                                                                 const bfloat16x8_t (&b)[3]) {
  acc[0] = vbfdotq_laneq_f32(acc[0], b[0], a, kLane);
  acc[1] = vbfdotq_laneq_f32(acc[1], b[1], a, kLane);
  acc[2] = vbfdotq_laneq_f32(acc[2], b[2], a, kLane);
}

__attribute__((target("arch=armv8.2-a+bf16"))) void micro_bf16_8x12(std::int64_t depth, const std::uint32_t* a,
                                                      const std::uint32_t* b, float* c, std::int64_t ldc,
                                                      bool accumulate) {
  float32x4_t acc[kMr][3];
  for (int r = 0; r < kMr; ++r) acc[r][0] = acc[r][1] = acc[r][2] = vdupq_n_f32(0.0f);
  for (std::int64_t q = 0; q < depth; ++q) {
    const bfloat16x8_t bv[3] = {vreinterpretq_bf16_u32(vld1q_u32(b)), vreinterpretq_bf16_u32(vld1q_u32(b + 4)),
                                vreinterpretq_bf16_u32(vld1q_u32(b + 8))};
    const bfloat16x8_t a_lo = vreinterpretq_bf16_u32(vld1q_u32(a)), a_hi = vreinterpretq_bf16_u32(vld1q_u32(a + 4));
    bf16_row<0>(acc[0], a_lo, bv);
    bf16_row<1>(acc[1], a_lo, bv);
    bf16_row<2>(acc[2], a_lo, bv);
    bf16_row<3>(acc[3], a_lo, bv);
    bf16_row<0>(acc[4], a_hi, bv);
    bf16_row<1>(acc[5], a_hi, bv);
    bf16_row<2>(acc[6], a_hi, bv);
    bf16_row<3>(acc[7], a_hi, bv);
    a += kMr;
    b += kNr;
  }
  for (int r = 0; r < kMr; ++r) {
    float* c_row = c + r * ldc;
    for (int j = 0; j < 3; ++j)
      vst1q_f32(c_row + 4 * j, accumulate ? vaddq_f32(acc[r][j], vld1q_f32(c_row + 4 * j)) : acc[r][j]);
  }
}

// Packing converts one value at a time (BFCVTN would do 4; the products dominate at these sizes).
void pack_b_pairs(const float* row0, const float* row1, std::uint32_t* dst) {
  for (int j = 0; j < kNr; ++j) dst[j] = pair(row0[j], row1[j]);
}
void pack_a_pairs(const float* a, std::int64_t lda, std::int64_t rows, std::int64_t kc, std::uint32_t* dst) {
  for (int r = 0; r < kMr; ++r) {
    const float* row = a + r * lda;
    for (std::int64_t p = 0; p < kc; p += 2)
      dst[(p / 2) * kMr + r] = r < rows ? pair(row[p], p + 1 < kc ? row[p + 1] : 0.0f) : 0;
  }
}
#endif

struct Bf16PairPanels {
  using Slot = std::uint32_t;
  static constexpr int k_per_slot = 2;
  int mr = kMr, nr = kNr;
  void pack_a(const float* a, std::int64_t lda, std::int64_t rows, std::int64_t kc, std::uint32_t* dst) const {
#if defined(__x86_64__) || FLOPSLAB_HAVE_ARM_BF16_KERNELS
    pack_a_pairs(a, lda, rows, kc, dst);
#else
    (void)a, (void)lda, (void)rows, (void)kc, (void)dst;  // never selected off x86
#endif
  }
  void pack_b(const float* const* rows, std::uint32_t* dst) const {
#if defined(__x86_64__) || FLOPSLAB_HAVE_ARM_BF16_KERNELS
    pack_b_pairs(rows[0], rows[1], dst);
#else
    (void)rows, (void)dst;
#endif
  }
  void micro(std::int64_t depth, const std::uint32_t* a, const std::uint32_t* b, float* c, std::int64_t ldc,
             bool accumulate) const {
#if defined(__x86_64__)
    micro_bf16_12x32(depth, a, b, c, ldc, accumulate);
#elif FLOPSLAB_HAVE_ARM_BF16_KERNELS
    micro_bf16_8x12(depth, a, b, c, ldc, accumulate);
#else
    (void)depth, (void)a, (void)b, (void)c, (void)ldc, (void)accumulate;  // never selected off x86
#endif
  }
};

// The model's blocks for 2 bytes per k: a slot holds two k, so kc doubles for the same bytes.
// Modelled at each call (a few divisions): the last level may be replaced by a measured one.
ModelledBlocking bf16_blocking() { return analytical_blocking(kMr, kNr, 2, cache_geometries()); }

void bf16_gemm(const Operands& op, const RunContext& ctx) {
  const MicroKernel& uk = micro_kernel(best_simd_path());
  gemm_packed_parallel(op, uk, default_blocking(uk), ctx.threads, InputFormat::bf16);
}

}  // namespace

const char* bf16_dot_instruction() {
  if (!bf16_dot_product_available()) return "";
  return kOnArm ? "bfdot" : "vdpbf16ps";
}

bool bf16_dot_product_available() {
#if defined(__x86_64__)
  return cpu_features().avx512_bf16 && cpu_features().can_avx512();
#elif defined(__aarch64__)
  return FLOPSLAB_HAVE_ARM_BF16_KERNELS && cpu_features().arm_bf16 && cpu_features().neon;
#else
  return false;
#endif
}

void gemm_bf16_dot(Shape shape, const float* a, std::int64_t lda, const BRowReader& read_b_row, float* c,
                   std::int64_t ldc, int threads, const ARowReader* read_a_row) {
  gemm_parallel_for(Bf16PairPanels{}, shape, a, lda, read_b_row, c, ldc, bf16_blocking().blocking, threads, read_a_row);
}

std::string describe_bf16_choice() {
  if (bf16_dot_product_available())
    return std::string(kOnArm ? "bf16 (FEAT_BF16)" : "avx512_bf16") + " micro-kernel " + std::to_string(kMr) + "x" +
           std::to_string(kNr) + " (" + bf16_dot_instruction() + " on bf16 pairs), " +
           describe_blocking(bf16_blocking(), cache_geometries());
  const std::string why = !kOnArm                      ? "no AVX512_BF16 here"
                          : !uncapped_cpu_features().arm_bf16 ? "no FEAT_BF16 here"
                          : !cpu_features().arm_bf16          ? "FEAT_BF16 hidden by FLOPSLAB_SIMD"
                                                              : "FEAT_BF16 here, but this build (clang 14) has no BFDOT kernel";
  return why + ": operands rounded to bf16 while packing, then step 5's " + describe_choice();
}

}  // namespace flopslab::gemm::packed

namespace flopslab::gemm {
extern const GemmVariant kCpuBf16{
    .name = "bf16",
    .step = 6,
    .multithreaded = true,
    .idea = "step 5 on bf16 operands packed in k-pairs: vdpbf16ps (x86) and bfdot (ARM) do twice an FMA's multiply-adds per instruction, sums in fp32",
    .run = packed::bf16_gemm,
    .detail = packed::describe_bf16_choice,
    .input_roundoff = 1.0 / 256,  // bf16 keeps 8 significant bits: relative rounding 2^-8
};
}  // namespace flopslab::gemm
