// The x86 micro-kernels' partial and unpacked tiles come as one function per row count, so that
// a tile of r rows runs code with exactly r rows of accumulators. This builds their table,
// indexed by rows - 1, from a class template whose Tile<r>::run is the r-row kernel.
#pragma once

#include <array>
#include <cstdint>
#include <utility>

namespace flopslab::gemm::packed {

// A tile of the table's row count: cols of C from A (a packed sliver, or rows lda apart) and B
// (a packed sliver, or rows ldb apart), as the kernel that fills the table defines them.
using TileRowsFn = void (*)(int cols, std::int64_t kc, const float* a, std::int64_t lda, const float* b,
                            std::int64_t ldb, float* c, std::int64_t ldc, bool accumulate);

template <int kMr, template <int> class Tile>
constexpr std::array<TileRowsFn, kMr> tiles_by_rows() {
  return []<int... kRows>(std::integer_sequence<int, kRows...>) {
    return std::array<TileRowsFn, kMr>{&Tile<kRows + 1>::run...};
  }(std::make_integer_sequence<int, kMr>{});
}

}  // namespace flopslab::gemm::packed
