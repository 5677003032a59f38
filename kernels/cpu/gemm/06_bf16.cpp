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
// BFDOT, the NEON form of the same pair dot product (8 multiply-adds per 128-bit instruction
// against FMLA's 4), and BFMMLA, a block product: a 2 x 4 bf16 block of A times a 4 x 2 block
// of B added to a 2 x 2 block of C, 16 multiply-adds per instruction. The rung uses BFMMLA, as
// Arm's own libraries do (Compute Library's "mmla" kernels): per multiply-add it needs half
// BFDOT's register loads, and where a core issues it at half BFDOT's rate the two tie. Its
// packing puts four k in a 64-bit slot, so two neighbouring slots are one operand as they lie
// (2 rows of A, or 2 columns of B); each 2 x 2 result is split into its rows when C is stored.
// The FLOPS probe measures both instructions' chains, and the bf16 roof is the faster.
//
// Without either instruction the same products are computed by rounding the operands to bf16
// while packing and running step 5's float32 micro-kernel: the same numbers, no speed-up.
#include <stdexcept>
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

#if defined(__x86_64__)
// 16 columns of two k rows into 16 pair slots: convert both rows into one register (row 0 in
// the low half), then interleave the halves so that slot j holds (row0[j], row1[j]).
__attribute__((target("avx512f,avx512bw,avx512bf16"))) void pack_b_pairs(const float* row0, const float* row1,
                                                                          std::uint32_t* dst) {
  alignas(64) static const std::uint16_t interleave[32] = {0, 16, 1, 17, 2,  18, 3,  19, 4,  20, 5,
                                                           21, 6, 22, 7, 23, 8, 24, 9,  25, 10, 26,
                                                           11, 27, 12, 28, 13, 29, 14, 30, 15, 31};
  const __m512i order = _mm512_load_si512(interleave);
  for (int j = 0; j < 32; j += 16) {
    const __m512i both = (__m512i)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(row1 + j), _mm512_loadu_ps(row0 + j));
    _mm512_store_si512(dst + j, _mm512_permutexvar_epi16(order, both));
  }
}

// Packing converts with vcvtne2ps2bf16 (round to nearest even, 32 values per instruction); the
// scalar bf16_from_float would cost as much as the multiplication on a 1024^3 product. In k
// order, its 16 32-bit lanes are already the pairs (k, k+1).
__attribute__((target("avx512f,avx512bw,avx512bf16"))) static void pack_row_pairs_avx512(const float* row,
                                                                                          std::int64_t kc,
                                                                                          std::uint32_t* dst) {
  std::int64_t p = 0;
  for (; p + 32 <= kc; p += 32)
    _mm512_storeu_si512(dst + p / 2, (__m512i)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(row + p + 16), _mm512_loadu_ps(row + p)));
  for (; p < kc; p += 2) dst[p / 2] = bf16_pair(row[p], p + 1 < kc ? row[p + 1] : 0.0f);
}
#endif

void pack_row_pairs(const float* row, std::int64_t kc, std::uint32_t* dst) {
#if defined(__x86_64__)
  if (cpu_features().avx512_bf16 && cpu_features().can_avx512()) return pack_row_pairs_avx512(row, kc, dst);
#endif
  for (std::int64_t p = 0; p < kc; p += 2) dst[p / 2] = bf16_pair(row[p], p + 1 < kc ? row[p + 1] : 0.0f);
}

namespace {

#if defined(__aarch64__)
constexpr bool kOnArm = true;
constexpr int kMr = 8, kNr = 12;
#else
constexpr bool kOnArm = false;
constexpr int kMr = 12, kNr = 32;
#endif

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
// One row of A into its pairs (pack_row_pairs), each pair then to its slot row's place for
// this row; kMaxKc k at a time (an even count, so no pair straddles two pieces).
void pack_a_pairs(const float* a, std::int64_t lda, std::int64_t rows, std::int64_t kc, std::uint32_t* dst) {
  alignas(64) std::uint32_t line[kMaxKc / 2];
  for (int r = 0; r < kMr; ++r) {
    if (r >= rows) {  // below the last row: zeros
      for (std::int64_t q = 0; q < (kc + 1) / 2; ++q) dst[q * kMr + r] = 0;
      continue;
    }
    for (std::int64_t p0 = 0; p0 < kc; p0 += kMaxKc) {
      const std::int64_t count = std::min(kMaxKc, kc - p0);
      pack_row_pairs(a + r * lda + p0, count, line);
      for (std::int64_t q = 0; q < (count + 1) / 2; ++q) dst[(p0 / 2 + q) * kMr + r] = line[q];
    }
  }
}
#endif

#if FLOPSLAB_HAVE_ARM_BF16_KERNELS
// Four bf16 values of consecutive k, the lowest k in the low bits: one row's (or column's)
// share of a BFMMLA operand.
inline std::uint64_t quad(const float* v, std::int64_t count) {
  std::uint64_t slot = 0;
  for (std::int64_t i = 0; i < count; ++i) slot |= std::uint64_t(bf16_from_float(v[i])) << (16 * i);
  return slot;
}

// An 8 x 12 tile of C as 4 x 6 blocks of 2 x 2, one NEON register each (24 accumulators).
// Per slot row (4 k): four A loads (row pairs), six B loads (column pairs), 24 BFMMLAs, each
// block += (2 rows x 4 k of A) times (4 k x 2 columns of B): 16 multiply-adds per instruction.
// 24 + 4 + 1 B register in flight: 29 of NEON's 32.
__attribute__((target("arch=armv8.2-a+bf16"))) void micro_bfmmla_8x12(std::int64_t depth, const std::uint64_t* a,
                                                                     const std::uint64_t* b, float* c,
                                                                     std::int64_t ldc, bool accumulate) {
  float32x4_t acc[4][6];
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 6; ++j) acc[i][j] = vdupq_n_f32(0.0f);
  for (std::int64_t q = 0; q < depth; ++q) {
    bfloat16x8_t av[4];
    for (int i = 0; i < 4; ++i) av[i] = vreinterpretq_bf16_u64(vld1q_u64(a + 2 * i));  // rows 2i, 2i + 1
#pragma GCC unroll 6
    for (int j = 0; j < 6; ++j) {
      const bfloat16x8_t bv = vreinterpretq_bf16_u64(vld1q_u64(b + 2 * j));  // columns 2j, 2j + 1
#pragma GCC unroll 4
      for (int i = 0; i < 4; ++i) acc[i][j] = vbfmmlaq_f32(acc[i][j], av[i], bv);
    }
    a += kMr;
    b += kNr;
  }
  // Block (i, j) holds C[2i][2j], C[2i][2j+1], C[2i+1][2j], C[2i+1][2j+1]: the 64-bit halves
  // of two neighbouring blocks are four columns of one row.
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 6; j += 2) {
      const float64x2_t left = vreinterpretq_f64_f32(acc[i][j]), right = vreinterpretq_f64_f32(acc[i][j + 1]);
      float* top = c + 2 * i * ldc + 2 * j;
      float* bottom = top + ldc;
      const float32x4_t top_row = vreinterpretq_f32_f64(vzip1q_f64(left, right));
      const float32x4_t bottom_row = vreinterpretq_f32_f64(vzip2q_f64(left, right));
      vst1q_f32(top, accumulate ? vaddq_f32(top_row, vld1q_f32(top)) : top_row);
      vst1q_f32(bottom, accumulate ? vaddq_f32(bottom_row, vld1q_f32(bottom)) : bottom_row);
    }
}
#endif

// The panels the bf16 micro-kernel reads (packed_driver.h's Format).
#if defined(__x86_64__)
// x86 AVX512_BF16: 32-bit slots of two k, read by vdpbf16ps.
struct Bf16Panels : NoEdgeKernel {
  using Slot = std::uint32_t;
  static constexpr int k_per_slot = 2;
  int mr = kMr, nr = kNr;
  void pack_a(const float* a, std::int64_t lda, std::int64_t rows, std::int64_t kc, std::uint32_t* dst) const {
    pack_a_pairs(a, lda, rows, kc, dst);
  }
  void pack_b(const float* const* rows, std::uint32_t* dst) const { pack_b_pairs(rows[0], rows[1], dst); }
  void micro(std::int64_t depth, const std::uint32_t* a, const std::uint32_t* b, float* c, std::int64_t ldc,
             bool accumulate) const {
    micro_bf16_12x32(depth, a, b, c, ldc, accumulate);
  }
};
#elif FLOPSLAB_HAVE_ARM_BF16_KERNELS
// aarch64 with FEAT_BF16: 64-bit slots of four k, so that two neighbouring slots (two rows of
// A, or two columns of B) are one BFMMLA operand as they lie. Packing converts one value at a
// time (BFCVTN would do 4; the products dominate at these sizes).
struct Bf16Panels : NoEdgeKernel {
  using Slot = std::uint64_t;
  static constexpr int k_per_slot = 4;
  int mr = kMr, nr = kNr;
  void pack_a(const float* a, std::int64_t lda, std::int64_t rows, std::int64_t kc, std::uint64_t* dst) const {
    for (int r = 0; r < kMr; ++r)
      for (std::int64_t p = 0; p < kc; p += 4)
        dst[(p / 4) * kMr + r] = r < rows ? quad(a + r * lda + p, std::min<std::int64_t>(4, kc - p)) : 0;
  }
  void pack_b(const float* const* rows, std::uint64_t* dst) const {
    for (int j = 0; j < kNr; ++j) {
      const float column[4] = {rows[0][j], rows[1][j], rows[2][j], rows[3][j]};
      dst[j] = quad(column, 4);
    }
  }
  void micro(std::int64_t depth, const std::uint64_t* a, const std::uint64_t* b, float* c, std::int64_t ldc,
             bool accumulate) const {
    micro_bfmmla_8x12(depth, a, b, c, ldc, accumulate);
  }
};
#endif

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
  return kOnArm ? "bfmmla" : "vdpbf16ps";
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
#if defined(__x86_64__) || FLOPSLAB_HAVE_ARM_BF16_KERNELS
  gemm_parallel_for(Bf16Panels{}, shape, a, lda, read_b_row, c, ldc, bf16_blocking().blocking, threads, read_a_row);
#else
  (void)shape, (void)a, (void)lda, (void)read_b_row, (void)c, (void)ldc, (void)threads, (void)read_a_row;
  throw std::logic_error("gemm_bf16_dot: this build has no bf16 dot-product kernel (see bf16_dot_product_available)");
#endif
}

std::string describe_bf16_choice() {
  if (bf16_dot_product_available())
    return std::string(kOnArm ? "bf16 (FEAT_BF16)" : "avx512_bf16") + " micro-kernel " + std::to_string(kMr) + "x" +
           std::to_string(kNr) + " (" + bf16_dot_instruction() +
           (kOnArm ? " on 2 x 4 bf16 blocks), " : " on bf16 pairs), ") +
           describe_blocking(bf16_blocking(), cache_geometries());
  const std::string why = !kOnArm                      ? "no AVX512_BF16 here"
                          : !uncapped_cpu_features().arm_bf16 ? "no FEAT_BF16 here"
                          : !cpu_features().arm_bf16          ? "FEAT_BF16 hidden by FLOPSLAB_SIMD"
                                                              : "FEAT_BF16 here, but this build (clang 14) has no BFMMLA kernel";
  return why + ": operands rounded to bf16 while packing, then step 5's " + describe_choice();
}

}  // namespace flopslab::gemm::packed

namespace flopslab::gemm {
extern const GemmVariant kCpuBf16{
    .name = "bf16",
    .step = 6,
    .multithreaded = true,
    .idea = "step 5 on bf16 operands packed in k-pairs (x86: vdpbf16ps, twice an FMA's multiply-adds per instruction) or 2 x 4 blocks (ARM: bfmmla, four times a NEON FMA's), sums in fp32",
    .run = packed::bf16_gemm,
    .detail = packed::describe_bf16_choice,
    .input_roundoff = 1.0 / 256,  // bf16 keeps 8 significant bits: relative rounding 2^-8
};
}  // namespace flopslab::gemm
