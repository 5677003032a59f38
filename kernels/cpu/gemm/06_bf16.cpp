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
// Without AVX512_BF16 the same products are computed by rounding the operands to bf16 while
// packing and running step 5's float32 micro-kernel: the same numbers, no speed-up.
#include <string>

#include "kernels/cpu/gemm/packed_driver.h"
#include "kernels/registry.h"

#if defined(__x86_64__)
#include <immintrin.h>

#include "kernels/cpu/gemm/tile_avx512.h"
#endif

namespace flopslab::gemm::packed {
namespace {

constexpr int kMr = 12, kNr = 32;

inline std::uint32_t pair(float low_k, float high_k) {
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

struct Bf16PairPanels {
  using Slot = std::uint32_t;
  static constexpr int k_per_slot = 2;
  int mr = kMr, nr = kNr;
  void pack_a(const float* a, std::int64_t lda, std::int64_t rows, std::int64_t kc, std::uint32_t* dst) const {
#if defined(__x86_64__)
    pack_a_pairs(a, lda, rows, kc, dst);
#else
    (void)a, (void)lda, (void)rows, (void)kc, (void)dst;  // never selected off x86
#endif
  }
  void pack_b(const float* const* rows, std::uint32_t* dst) const {
#if defined(__x86_64__)
    pack_b_pairs(rows[0], rows[1], dst);
#else
    (void)rows, (void)dst;
#endif
  }
  void micro(std::int64_t depth, const std::uint32_t* a, const std::uint32_t* b, float* c, std::int64_t ldc,
             bool accumulate) const {
#if defined(__x86_64__)
    micro_bf16_12x32(depth, a, b, c, ldc, accumulate);
#else
    (void)depth, (void)a, (void)b, (void)c, (void)ldc, (void)accumulate;  // never selected off x86
#endif
  }
};

// The model's blocks for 2 bytes per k: a slot holds two k, so kc doubles for the same bytes.
const ModelledBlocking& bf16_blocking() {
  static const ModelledBlocking blocks = analytical_blocking(kMr, kNr, 2, cache_geometries());
  return blocks;
}

void bf16_gemm(const Operands& op, const RunContext& ctx) {
  const MicroKernel& uk = micro_kernel(best_simd_path());
  gemm_packed_parallel(op, uk, default_blocking(uk), ctx.threads, InputFormat::bf16);
}

}  // namespace

bool bf16_dot_product_available() {
#if defined(__x86_64__)
  return cpu_features().avx512_bf16 && cpu_features().can_avx512();
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
    return "avx512_bf16 micro-kernel 12x32 (vdpbf16ps on bf16 pairs), " +
           describe_blocking(bf16_blocking(), cache_geometries());
  return "no AVX512_BF16 here: operands rounded to bf16 while packing, then step 5's " + describe_choice();
}

}  // namespace flopslab::gemm::packed

namespace flopslab::gemm {
extern const GemmVariant kCpuBf16{
    .name = "bf16",
    .step = 6,
    .multithreaded = true,
    .idea = "step 5 on bf16 operands packed in k-pairs: vdpbf16ps does 32 multiply-adds per instruction, sums in fp32",
    .run = packed::bf16_gemm,
    .detail = packed::describe_bf16_choice,
    .input_roundoff = 1.0 / 256,  // bf16 keeps 8 significant bits: relative rounding 2^-8
};
}  // namespace flopslab::gemm
