// AVX-512 micro-kernel: a 12 x 32 tile of C held in 24 ZMM registers.
//
// Per step p: two loads of B (32 floats), twelve broadcasts of A (folded into the FMAs as
// embedded {1to16} broadcasts), twenty-four FMAs. 24 accumulators + 2 B vectors leave room
// in the 32 registers; 24 independent chains cover two 512-bit FMA pipes of latency 4.
#include "kernels/cpu/gemm/packed.h"

#if defined(__x86_64__)
#include <immintrin.h>

#include <algorithm>

#include "kernels/cpu/gemm/tile_avx512.h"
#include "kernels/cpu/gemm/tiles_by_rows.h"
#include "kernels/cpu/transpose_avx512.h"

namespace flopslab::gemm::packed {
namespace {

constexpr int kMr = 12, kNr = 32;

__attribute__((target("avx512f,avx2,fma"))) void micro_12x32(std::int64_t kc, const float* a,
                                                              const float* b, float* c,
                                                              std::int64_t ldc,
                                                              bool accumulate) {
  __m512 acc[kMr][2];
  prefetch_tile_12x32(c, ldc);
#pragma GCC unroll 12
  for (int r = 0; r < kMr; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();

  for (std::int64_t p = 0; p < kc; ++p) {
    const __m512 b0 = _mm512_load_ps(b);
    const __m512 b1 = _mm512_load_ps(b + 16);
#pragma GCC unroll 12
    for (int r = 0; r < kMr; ++r) {
      const __m512 a_r = _mm512_set1_ps(a[r]);
      acc[r][0] = _mm512_fmadd_ps(a_r, b0, acc[r][0]);
      acc[r][1] = _mm512_fmadd_ps(a_r, b1, acc[r][1]);
    }
    a += kMr;
    b += kNr;
  }

  store_tile_12x32(acc, c, ldc, accumulate);
}

// Where the kernels below find A's value for row r at step p: a packed sliver (12 per p), or
// A's own rows, lda floats apart (MicroKernel::unpacked).
struct PackedSliver {
  const float* a;
  explicit PackedSliver(const float* sliver, std::int64_t /*lda*/) : a(sliver) {}
  float at(int r, std::int64_t p) const { return a[p * kMr + r]; }
};
template <int kRows>
struct RowsOfA {
  const float* row[kRows];
  RowsOfA(const float* a, std::int64_t lda) {
    for (int r = 0; r < kRows; ++r) row[r] = a + r * lda;
  }
  float at(int r, std::int64_t p) const { return row[r][p]; }
};

// A tile of rows <= 12 and cols <= 32 straight into C: only the rows that exist are
// multiplied, one vector of B where 16 columns suffice, and C is loaded and stored under a
// mask (a full tile read from A's rows stores as micro_12x32 does). The full kernel on padding
// (through a scratch tile) spent a whole tile's time on, say, the 4 rows that 256 leaves past
// 21 x 12: 1/22 of a 256^3 product.
// B is a packed sliver (nr floats per k, zero-padded, aligned), or with kRowsOfB B's own rows,
// ldb floats apart, read under the column mask where the tile is partial (past the mask lies
// the next row, or nothing).
// (The row pointers are made here, in registers: passed in as a struct, they went through the
// stack, and the loads that read them back stalled on the stores, a tenth of a k-64 tile.)
template <int kRows, int kVectors, class ASource, bool kRowsOfB>
__attribute__((target("avx512f,avx2,fma"))) void micro_tile(int cols, std::int64_t kc, const float* a_at,
                                                            std::int64_t lda, const float* b, std::int64_t ldb,
                                                            float* c, std::int64_t ldc, bool accumulate) {
  const ASource a(a_at, lda);
  constexpr bool kFullShape = kRows == kMr && kVectors == 2;
  if (kFullShape) prefetch_tile_12x32(c, ldc);
  __mmask16 mask[kVectors];
  for (int v = 0; v < kVectors; ++v) {
    const int lanes = std::clamp(cols - 16 * v, 0, 16);
    mask[v] = __mmask16((1u << lanes) - 1);
  }
  const bool whole = cols == 16 * kVectors;
  __m512 acc[kRows][kVectors];
#pragma GCC unroll 12
  for (int r = 0; r < kRows; ++r)
    for (int v = 0; v < kVectors; ++v) acc[r][v] = _mm512_setzero_ps();
  for (std::int64_t p = 0; p < kc; ++p) {
    __m512 bv[kVectors];
    if constexpr (kRowsOfB) {
      if (whole)
        for (int v = 0; v < kVectors; ++v) bv[v] = _mm512_loadu_ps(b + 16 * v);
      else
        for (int v = 0; v < kVectors; ++v) bv[v] = _mm512_maskz_loadu_ps(mask[v], b + 16 * v);
      b += ldb;
    } else {
      for (int v = 0; v < kVectors; ++v) bv[v] = _mm512_load_ps(b + 16 * v);
      b += kNr;
    }
#pragma GCC unroll 12
    for (int r = 0; r < kRows; ++r) {
      const __m512 a_r = _mm512_set1_ps(a.at(r, p));
      for (int v = 0; v < kVectors; ++v) acc[r][v] = _mm512_fmadd_ps(a_r, bv[v], acc[r][v]);
    }
  }
  if constexpr (kFullShape) {
    if (whole) return store_tile_12x32(acc, c, ldc, accumulate);
  }
#pragma GCC unroll 12
  for (int r = 0; r < kRows; ++r)
    for (int v = 0; v < kVectors; ++v) {
      float* at = c + r * ldc + 16 * v;
      __m512 sum = acc[r][v];
      if (accumulate) sum = _mm512_add_ps(sum, _mm512_maskz_loadu_ps(mask[v], at));
      _mm512_mask_storeu_ps(at, mask[v], sum);
    }
}

template <template <int> class ASource, bool kRowsOfB>
struct Tiles {
  template <int kRows>
  struct Tile {  // one vector of 16 columns where 16 suffice
    static void run(int cols, std::int64_t kc, const float* a, std::int64_t lda, const float* b, std::int64_t ldb,
                    float* c, std::int64_t ldc, bool accumulate) {
      if (cols <= 16) micro_tile<kRows, 1, ASource<kRows>, kRowsOfB>(cols, kc, a, lda, b, ldb, c, ldc, accumulate);
      else micro_tile<kRows, 2, ASource<kRows>, kRowsOfB>(cols, kc, a, lda, b, ldb, c, ldc, accumulate);
    }
  };
};
template <int>
using Packed = PackedSliver;

constexpr auto kEdgeByRows = tiles_by_rows<kMr, Tiles<Packed, false>::Tile>();
constexpr auto kUnpackedAByRows = tiles_by_rows<kMr, Tiles<RowsOfA, false>::Tile>();
constexpr auto kUnpackedByRows = tiles_by_rows<kMr, Tiles<RowsOfA, true>::Tile>();

void micro_edge(int rows, int cols, std::int64_t kc, const float* a, const float* b, float* c, std::int64_t ldc,
                bool accumulate) {
  kEdgeByRows[rows - 1](cols, kc, a, 0, b, 0, c, ldc, accumulate);
}

void micro_unpacked(int rows, int cols, std::int64_t kc, const float* a, std::int64_t lda, const float* b,
                    std::int64_t ldb, float* c, std::int64_t ldc, bool accumulate) {
  (ldb > 0 ? kUnpackedByRows : kUnpackedAByRows)[rows - 1](cols, kc, a, lda, b, ldb, c, ldc, accumulate);
}

}  // namespace

// Packing A is a transpose (12 rows in, k-major slivers out); element by element it took
// 10-20% of a 256^3 product. Here 16 k at a time through a 16 x 16 register transpose.
void pack_a_sliver_12_avx512(const float* a, std::int64_t lda, std::int64_t kc, float* dst) {
  std::int64_t p0 = 0;
  for (; p0 + 16 <= kc; p0 += 16) cpu_simd::transpose_16x16_avx512(a + p0, lda, kMr, 16, dst + p0 * kMr, kMr);
  for (; p0 < kc; ++p0)
    for (int i = 0; i < kMr; ++i) dst[p0 * kMr + i] = a[i * lda + p0];
}

const MicroKernel kMicroKernelAvx512{SimdPath::avx512, kMr, kNr, micro_12x32, micro_edge, micro_unpacked};

}  // namespace flopslab::gemm::packed
#else
namespace flopslab::gemm::packed {
const MicroKernel kMicroKernelAvx512{SimdPath::avx512, 0, 0, nullptr};  // not x86: never selected
void pack_a_sliver_12_avx512(const float*, std::int64_t, std::int64_t, float*) {}
}
#endif
