// The convolution register tiles (register_tiles.h) as SVE code at one fixed vector length.
//
// This file is compiled once per length, with -march=armv8.2-a+sve -msve-vector-bits=BITS
// and FLOPSLAB_SVE_BITS=BITS (kernels/CMakeLists.txt): with the length known, GCC gives the
// tiles' GCC vectors of 8 or 16 floats single SVE registers (ld1w, fmla, st1w) where the
// NEON build splits them into 128-bit pairs. The tiles are then the AVX-512 ones (SVE has 32
// registers too): 2 x 14 or 1 x 28 vectors for step 6, 6 filters x 4 vectors for step 7.
// Which copy runs is chosen from the length the process has (sve_dispatch.cpp); at 128 bits
// SVE is no wider than NEON, and the NEON tiles run.
//
// Nothing here may be shared with the rest of the program (see register_tiles.h): the file
// defines three functions of external linkage, named by the length, and nothing else.
#include <utility>

#include "kernels/cpu/conv/register_tiles.h"

#if !defined(FLOPSLAB_SVE_BITS) || !defined(__ARM_FEATURE_SVE_BITS) || __ARM_FEATURE_SVE_BITS != FLOPSLAB_SVE_BITS
#error "sve_tiles.cpp is compiled with -msve-vector-bits=FLOPSLAB_SVE_BITS (kernels/CMakeLists.txt)"
#endif

#define FLOPSLAB_SVE_NAME2(name, bits) name##_sve##bits
#define FLOPSLAB_SVE_NAME(name, bits) FLOPSLAB_SVE_NAME2(name, bits)

namespace flopslab::conv::cpu {
namespace {

constexpr int V = FLOPSLAB_SVE_BITS / 32;

template <int QT, int KB>
void tile(const DirectTileLayout& l, const float* x, const float* w, const float* start, std::int64_t p,
          std::int64_t q0, float* out) {
  direct_tile<V, QT, KB>(l, x, w, start, p, q0, out);
}
template <int QT, int KB>
void dense(const DirectTileLayout& l, const float* x, const float* w, const float* start, std::int64_t p,
           std::int64_t q0, float* out) {
  direct_tile<V, QT, KB, true>(l, x, w, start, p, q0, out);
}
template <int KB, bool kDense, std::size_t... I>
constexpr std::array<DirectTileFn, sizeof...(I)> tile_table(std::index_sequence<I...>) {
  if constexpr (kDense) return {&dense<int(I) + 1, KB>...};
  else return {&tile<int(I) + 1, KB>...};
}

template <int QV>
void rows(const WeightGradRows& d, std::int64_t n, std::int64_t c, std::int64_t k0, std::int64_t q0, float* dw_t) {
  weight_grad_rows<V, 6, QV>(d, n, c, k0, q0, dw_t);
}
void blocked(const WeightGradBlock& b, const float* x, const float* dy, float* out) {
  weight_grad_blocked<V>(b, x, dy, out);
}

void depthwise(const DepthwisePlane& l, const float* padded, const float* w, float* y) {
  depthwise_rows<V>(l, padded, w, y);
}

constexpr auto tiles_1 = tile_table<1, false>(std::make_index_sequence<28>());
constexpr auto tiles_2 = tile_table<2, false>(std::make_index_sequence<14>());
constexpr auto dense_1 = tile_table<1, true>(std::make_index_sequence<28>());
constexpr auto dense_2 = tile_table<2, true>(std::make_index_sequence<14>());

}  // namespace

// constexpr objects: initialised at compile time, so no guard variable or library call.
const DirectKernel* FLOPSLAB_SVE_NAME(direct_kernel, FLOPSLAB_SVE_BITS)() {
  static constexpr DirectKernel kernel{FLOPSLAB_SVE_BITS == 512 ? "SVE-512" : "SVE-256",
                                       V,
                                       {28, 14},
                                       {tiles_1.data(), tiles_2.data()},
                                       {dense_1.data(), dense_2.data()}};
  return &kernel;
}

const WeightGradKernel* FLOPSLAB_SVE_NAME(weight_grad_kernel, FLOPSLAB_SVE_BITS)() {
  static constexpr WeightGradKernel kernel{
      FLOPSLAB_SVE_BITS == 512 ? "SVE-512" : "SVE-256", V, 6, 4, {rows<1>, rows<2>, rows<3>, rows<4>}, blocked};
  return &kernel;
}

DepthwiseRowsFn FLOPSLAB_SVE_NAME(depthwise_rows, FLOPSLAB_SVE_BITS)() { return depthwise; }

}  // namespace flopslab::conv::cpu
