// AVX2 + FMA micro-kernel: a 6 x 16 tile of C held in 12 YMM registers.
//
// Per step p: two loads of B (16 floats), six broadcasts of A, twelve FMAs. With two FMA
// pipes of latency 4-5 cycles, at least 8-10 independent accumulators are needed to keep
// both pipes busy; 12 accumulators + 2 B vectors + 1 broadcast use 15 of the 16 registers.
// Compiled for AVX2 through the target attribute, so the rest of the binary stays baseline
// x86-64 and this code only runs after CPUID said it may.
#include "kernels/cpu/gemm/packed.h"

#if defined(__x86_64__)
#include <immintrin.h>

#include <algorithm>

#include "kernels/cpu/gemm/tiles_by_rows.h"

namespace flopslab::gemm::packed {
namespace {

constexpr int kMr = 6, kNr = 16;

__attribute__((target("avx2,fma"))) void micro_6x16(std::int64_t kc, const float* a,
                                                     const float* b, float* c,
                                                     std::int64_t ldc, bool accumulate) {
  // Start fetching the C tile now; it is needed only after the k loop.
#pragma GCC unroll 6
  for (int r = 0; r < kMr; ++r) {
    _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc + kNr - 1), _MM_HINT_T0);
  }
  __m256 acc[kMr][2];
#pragma GCC unroll 6
  for (int r = 0; r < kMr; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();

  for (std::int64_t p = 0; p < kc; ++p) {
    const __m256 b0 = _mm256_load_ps(b);
    const __m256 b1 = _mm256_load_ps(b + 8);
#pragma GCC unroll 6
    for (int r = 0; r < kMr; ++r) {
      const __m256 a_r = _mm256_broadcast_ss(a + r);
      acc[r][0] = _mm256_fmadd_ps(a_r, b0, acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(a_r, b1, acc[r][1]);
    }
    a += kMr;
    b += kNr;
  }

#pragma GCC unroll 6
  for (int r = 0; r < kMr; ++r) {
    float* c_row = c + r * ldc;
    if (accumulate) {
      acc[r][0] = _mm256_add_ps(acc[r][0], _mm256_loadu_ps(c_row));
      acc[r][1] = _mm256_add_ps(acc[r][1], _mm256_loadu_ps(c_row + 8));
    }
    _mm256_storeu_ps(c_row, acc[r][0]);
    _mm256_storeu_ps(c_row + 8, acc[r][1]);
  }
}

// A tile of rows <= 6 and cols <= 16 with A read where it lies (rows lda apart), and B a packed
// sliver or, with kRowsOfB, B's own rows (ldb apart); see read_a_unpacked. A partial tile loads
// B's row and C under a lane mask (vmaskmovps), which never touches the masked-off lanes.
template <int kRows, int kVectors, bool kRowsOfB>
__attribute__((target("avx2,fma"))) void micro_unpacked_tile(int cols, std::int64_t kc, const float* a,
                                                             std::int64_t lda, const float* b, std::int64_t ldb,
                                                             float* c, std::int64_t ldc, bool accumulate) {
  const float* row[kRows];
  for (int r = 0; r < kRows; ++r) row[r] = a + r * lda;
  __m256i mask[kVectors];
  for (int v = 0; v < kVectors; ++v) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    mask[v] = _mm256_cmpgt_epi32(_mm256_set1_epi32(std::clamp(cols - 8 * v, 0, 8)), lane);
  }
  const bool whole = cols == 8 * kVectors;
  __m256 acc[kRows][kVectors];
#pragma GCC unroll 6
  for (int r = 0; r < kRows; ++r)
    for (int v = 0; v < kVectors; ++v) acc[r][v] = _mm256_setzero_ps();
  for (std::int64_t p = 0; p < kc; ++p) {
    __m256 bv[kVectors];
    if constexpr (kRowsOfB) {
      if (whole)
        for (int v = 0; v < kVectors; ++v) bv[v] = _mm256_loadu_ps(b + 8 * v);
      else
        for (int v = 0; v < kVectors; ++v) bv[v] = _mm256_maskload_ps(b + 8 * v, mask[v]);
      b += ldb;
    } else {
      for (int v = 0; v < kVectors; ++v) bv[v] = _mm256_load_ps(b + 8 * v);
      b += kNr;
    }
#pragma GCC unroll 6
    for (int r = 0; r < kRows; ++r) {
      const __m256 a_r = _mm256_broadcast_ss(row[r] + p);
      for (int v = 0; v < kVectors; ++v) acc[r][v] = _mm256_fmadd_ps(a_r, bv[v], acc[r][v]);
    }
  }
#pragma GCC unroll 6
  for (int r = 0; r < kRows; ++r)
    for (int v = 0; v < kVectors; ++v) {
      float* at = c + r * ldc + 8 * v;
      if (whole) {
        _mm256_storeu_ps(at, accumulate ? _mm256_add_ps(acc[r][v], _mm256_loadu_ps(at)) : acc[r][v]);
      } else {
        const __m256 sum = accumulate ? _mm256_add_ps(acc[r][v], _mm256_maskload_ps(at, mask[v])) : acc[r][v];
        _mm256_maskstore_ps(at, mask[v], sum);
      }
    }
}

template <bool kRowsOfB>
struct Unpacked {
  template <int kRows>
  struct Tile {  // one vector of 8 columns where 8 suffice
    static void run(int cols, std::int64_t kc, const float* a, std::int64_t lda, const float* b, std::int64_t ldb,
                    float* c, std::int64_t ldc, bool accumulate) {
      if (cols <= 8) micro_unpacked_tile<kRows, 1, kRowsOfB>(cols, kc, a, lda, b, ldb, c, ldc, accumulate);
      else micro_unpacked_tile<kRows, 2, kRowsOfB>(cols, kc, a, lda, b, ldb, c, ldc, accumulate);
    }
  };
};
constexpr auto kUnpackedAByRows = tiles_by_rows<kMr, Unpacked<false>::Tile>();
constexpr auto kUnpackedByRows = tiles_by_rows<kMr, Unpacked<true>::Tile>();

void micro_unpacked(int rows, int cols, std::int64_t kc, const float* a, std::int64_t lda, const float* b,
                    std::int64_t ldb, float* c, std::int64_t ldc, bool accumulate) {
  (ldb > 0 ? kUnpackedByRows : kUnpackedAByRows)[rows - 1](cols, kc, a, lda, b, ldb, c, ldc, accumulate);
}

}  // namespace

const MicroKernel kMicroKernelAvx2{SimdPath::avx2, kMr, kNr, micro_6x16, nullptr, micro_unpacked};

}  // namespace flopslab::gemm::packed
#else
namespace flopslab::gemm::packed {
const MicroKernel kMicroKernelAvx2{SimdPath::avx2, 0, 0, nullptr};  // not x86: never selected
}
#endif
