// Step 5's multithreaded Goto loop (see 05_openmp.cpp), written once for any packed format.
//
// A format says how a packed panel holds the operands and which micro-kernel reads them:
//   FloatPanels<format>: one float per k (rounded to bf16 or fp16 while packing, or not), read
//     by the float32 FMA micro-kernels;
//   Bf16Panels (06_bf16.cpp): on x86, two bf16 values of consecutive k in one 32-bit slot,
//     read by the AVX512_BF16 micro-kernel, whose vdpbf16ps does 32 multiply-adds where
//     vfmadd231ps does 16; on aarch64, four in one 64-bit slot, two slots a BFMMLA operand
//     (2 rows x 4 k).
// A sliver of A holds, per slot row, mr slots (one per row of C); a sliver of B nr slots (one
// per column). `depth` is the number of slot rows for a kc-long block: kc / k_per_slot rounded up.
//
//   struct Format {
//     using Slot = ...;  static constexpr int k_per_slot = 1, 2 or 4;  int mr, nr;
//     void pack_a(const float* a, std::int64_t lda, std::int64_t rows, std::int64_t kc, Slot* dst) const;
//     // k_per_slot row pieces of nr floats (all zeros past the end of the block) into one slot row
//     void pack_b(const float* const* rows, Slot* dst) const;
//     void micro(std::int64_t depth, const Slot* a, const Slot* b, float* c, std::int64_t ldc, bool accumulate) const;
//     // a partial tile (rows <= mr, cols <= nr) straight into C; false: the format has no such
//     // kernel, and the full one runs into a scratch tile
//     bool micro_edge(int rows, int cols, std::int64_t depth, const Slot* a, const Slot* b, float* c,
//                     std::int64_t ldc, bool accumulate) const;
//     bool has_edge_kernel() const;  // whether micro_edge ever returns true
//     // A tile (full or partial) with A read where it lies, rows lda apart, and B a packed
//     // sliver (ldb 0) or B's rows, ldb apart (float32 only)
//     void micro_unpacked(int rows, int cols, std::int64_t depth, const float* a, std::int64_t lda,
//                         const Slot* b, std::int64_t ldb, float* c, std::int64_t ldc, bool accumulate) const;
//     bool has_unpacked_kernel() const;  // false: A and B are always packed
//   };
#pragma once

#include <omp.h>

#include <algorithm>
#include <type_traits>
#include <cstdint>

#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/gemm/low_precision.h"
#include "kernels/cpu/gemm/packed.h"
#include "kernels/cpu/transpose_avx512.h"

namespace flopslab::gemm::packed {

// A format with its full kernel only: the driver runs it into a scratch tile for a partial
// tile, and always packs A and B.
struct NoEdgeKernel {
  template <class Slot>
  bool micro_edge(int, int, std::int64_t, const Slot*, const Slot*, float*, std::int64_t, bool) const {
    return false;
  }
  bool has_edge_kernel() const { return false; }
  template <class Slot>
  void micro_unpacked(int, int, std::int64_t, const float*, std::int64_t, const Slot*, std::int64_t, float*,
                      std::int64_t, bool) const {}
  bool has_unpacked_kernel() const { return false; }
};

// Float32 panels; with a 16-bit `Rounded` format each value is rounded to it as it is packed
// (the same products as a 16-bit GEMM, at float32 speed: what runs where the CPU has no
// bf16 dot-product instruction, and for fp16 on every CPU here).
template <InputFormat Rounded>
struct FloatPanels {
  using Slot = float;
  static constexpr int k_per_slot = 1;
  const MicroKernel& uk;
  int mr, nr;
  explicit FloatPanels(const MicroKernel& kernel) : uk(kernel), mr(kernel.mr), nr(kernel.nr) {}
  void pack_a(const float* a, std::int64_t lda, std::int64_t rows, std::int64_t kc, float* dst) const {
    packed::pack_a(a, lda, rows, kc, mr, dst);
    if constexpr (Rounded != InputFormat::fp32) round_in_place(Rounded, dst, kc * mr);
  }
  void pack_b(const float* const* rows, float* dst) const {
    std::copy_n(rows[0], nr, dst);
    if constexpr (Rounded != InputFormat::fp32) round_in_place(Rounded, dst, nr);
  }
  void micro(std::int64_t depth, const float* a, const float* b, float* c, std::int64_t ldc, bool accumulate) const {
    uk.run(depth, a, b, c, ldc, accumulate);
  }
  bool micro_edge(int rows, int cols, std::int64_t depth, const float* a, const float* b, float* c, std::int64_t ldc,
                  bool accumulate) const {
    if (uk.edge == nullptr) return false;
    uk.edge(rows, cols, depth, a, b, c, ldc, accumulate);
    return true;
  }
  bool has_edge_kernel() const { return uk.edge != nullptr; }
  void micro_unpacked(int rows, int cols, std::int64_t depth, const float* a, std::int64_t lda, const float* b,
                      std::int64_t ldb, float* c, std::int64_t ldc, bool accumulate) const {
    uk.unpacked(rows, cols, depth, a, lda, b, ldb, c, ldc, accumulate);
  }
  // Rounded formats round the operands as they pack them, so they must pack them.
  bool has_unpacked_kernel() const { return Rounded == InputFormat::fp32 && uk.unpacked != nullptr; }
};

// C[rows x cols] (+)= packed A block * packed B panel, tile by tile. Edge tiles go to the
// format's partial-tile kernel, or else through a scratch tile, so the full micro-kernel never
// needs a bounds check. With an epilogue (the last k block only), each finished tile gets it at
// once; (row0, col0) is c's place in the whole C. With a_ld > 0, a_packed is not packed but A's
// own rows, a_ld floats apart, and with b_ld > 0 too, b_packed is B's own rows, b_ld apart
// (float32 formats only).
// A slivers outer: one A sliver (mr x kc, the broadcast operand) stays in L1 while the panel's
// B slivers stream past it. BLIS's order (blocking.cpp) keeps a B sliver there instead, which
// at kc 512 no longer fits, so both operands came from L2: on Zen 4 this order gained 1-3% at
// 1024^3-4096^3 (fp32) and 5% (bf16, 2048^3).
template <class Format>
void macro_kernel_for(const Format& f, std::int64_t rows, std::int64_t cols, std::int64_t depth,
                      const typename Format::Slot* a_packed, const typename Format::Slot* b_packed, float* c,
                      std::int64_t ldc, bool accumulate, const Epilogue* epilogue = nullptr, std::int64_t row0 = 0,
                      std::int64_t col0 = 0, std::int64_t a_ld = 0, std::int64_t b_ld = 0) {
  alignas(64) float edge[16 * 64];  // mr x nr <= 16 x 64
  for (std::int64_t i0 = 0; i0 < rows; i0 += f.mr) {
    const std::int64_t mr = std::min<std::int64_t>(f.mr, rows - i0);
    if constexpr (std::is_same_v<typename Format::Slot, float>) {
      if (a_ld > 0) {  // A's rows where they lie: one kernel for full and partial tiles
        for (std::int64_t j0 = 0; j0 < cols; j0 += f.nr) {
          const std::int64_t nr = std::min<std::int64_t>(f.nr, cols - j0);
          float* c_tile = c + i0 * ldc + j0;
          f.micro_unpacked(int(mr), int(nr), depth, a_packed + i0 * a_ld, a_ld, b_packed + (b_ld > 0 ? j0 : j0 * depth),
                           b_ld, c_tile, ldc, accumulate);
          if (epilogue != nullptr) apply_epilogue(*epilogue, row0 + i0, col0 + j0, mr, nr, c_tile, ldc);
        }
        continue;
      }
    }
    const typename Format::Slot* a_sliver = a_packed + i0 * depth;
    for (std::int64_t j0 = 0; j0 < cols; j0 += f.nr) {
      const std::int64_t nr = std::min<std::int64_t>(f.nr, cols - j0);
      const typename Format::Slot* b_sliver = b_packed + j0 * depth;
      float* c_tile = c + i0 * ldc + j0;
      if (mr == f.mr && nr == f.nr) {
        f.micro(depth, a_sliver, b_sliver, c_tile, ldc, accumulate);
      } else if (!f.micro_edge(int(mr), int(nr), depth, a_sliver, b_sliver, c_tile, ldc, accumulate)) {
        f.micro(depth, a_sliver, b_sliver, edge, f.nr, false);
        for (std::int64_t r = 0; r < mr; ++r)
          for (std::int64_t j = 0; j < nr; ++j)
            c_tile[r * ldc + j] = (accumulate ? c_tile[r * ldc + j] : 0.0f) + edge[r * f.nr + j];
      }
      if (epilogue != nullptr) apply_epilogue(*epilogue, row0 + i0, col0 + j0, mr, nr, c_tile, ldc);
    }
  }
}

namespace detail {
// [begin, end) of part `index` when `total` is split into `parts` near-equal runs of whole
// slivers.
inline std::pair<std::int64_t, std::int64_t> share(std::int64_t total, int unit, int index, int parts) {
  const std::int64_t slivers = (total + unit - 1) / unit;
  return {std::min(total, slivers * index / parts * unit), std::min(total, slivers * (index + 1) / parts * unit)};
}
constexpr int kGroup = 8;  // B slivers packed together (nr <= 64)

// dst[j * ld_dst + i] = src[i * ld_src + j], i < rows, j < cols (both at most 16).
inline void transpose_block(const float* src, std::int64_t ld_src, int rows, int cols, float* dst,
                            std::int64_t ld_dst) {
#if defined(__x86_64__)
  if (cpu_features().can_avx512()) return cpu_simd::transpose_16x16_avx512(src, ld_src, rows, cols, dst, ld_dst);
#endif
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < cols; ++j) dst[j * ld_dst + i] = src[i * ld_src + j];
}

// Packs rows [p0, p0 + kc) x columns [j0, j0 + cols) of B = b_t^T into a group's slivers (as
// the row-reader loop does), 16 rows at a time: 16 x 16 blocks transposed into `rows`, then
// each of its rows packed. Zeros fill the right edge and any slot row past kc.
template <class Format>
void pack_b_group_transposed(const Format& f, const TransposedB& b_t, std::int64_t p0, std::int64_t kc,
                             std::int64_t j0, std::int64_t cols, std::int64_t depth,
                             typename Format::Slot* dst) {
  constexpr int K = Format::k_per_slot;
  constexpr std::int64_t kWidth = kGroup * 64;
  const std::int64_t padded = (cols + f.nr - 1) / f.nr * f.nr;
  alignas(64) float rows[16][kWidth];
  for (std::int64_t p = 0; p < kc; p += 16) {
    const int ks = int(std::min<std::int64_t>(16, kc - p));
    for (std::int64_t j = 0; j < cols; j += 16)
      transpose_block(b_t.data + (j0 + j) * b_t.ld + p0 + p, b_t.ld, int(std::min<std::int64_t>(16, cols - j)), ks,
                      rows[0] + j, kWidth);
    const int filled = (ks + K - 1) / K * K;  // whole slots
    for (int r = 0; r < filled; ++r) std::fill(r < ks ? rows[r] + cols : rows[r], rows[r] + padded, 0.0f);
    for (int q = 0; q < ks; q += K)
      for (std::int64_t s = 0; s < cols; s += f.nr) {
        const float* pieces[K];
        for (int r = 0; r < K; ++r) pieces[r] = rows[q + r] + s;
        f.pack_b(pieces, dst + s * depth + ((p + q) / K) * f.nr);
      }
  }
}
// Slivers per packing group: at most kGroup, the same number of groups for every thread.
inline std::int64_t pack_group(std::int64_t slivers, int threads) {
  const std::int64_t per_thread = (slivers + threads - 1) / threads;
  const std::int64_t groups_per_thread = (per_thread + kGroup - 1) / kGroup;
  return std::max<std::int64_t>(1, (per_thread + groups_per_thread - 1) / groups_per_thread);
}
}  // namespace detail

// A is a matrix (a, lda), or, with read_a_row set, rows read through that function (a
// convolution's weight gradient reads its im2col rows straight from the images). (row_base,
// col_base): c's place in the C that the epilogue indexes (a thread's slab of a larger C).
template <class Format>
void gemm_parallel_for(const Format& f, Shape shape, const float* a, std::int64_t lda, const BRowReader& read_b_row,
                       float* c, std::int64_t ldc, const Blocking& blk, int threads,
                       const ARowReader* read_a_row = nullptr, const Epilogue* epilogue = nullptr,
                       std::int64_t row_base = 0, std::int64_t col_base = 0, const TransposedB* b_t = nullptr,
                       const RowMajorB* b_rows = nullptr) {
  using Slot = typename Format::Slot;
  constexpr int K = Format::k_per_slot;
  // Plain names, not a structured binding: clang before 16 cannot use one inside the OpenMP region.
  const std::int64_t m = shape.m, n = shape.n, k = shape.k;
  if (k == 0) {  // an empty sum: C = 0
    for (std::int64_t i = 0; i < m; ++i) std::fill_n(c + i * ldc, n, 0.0f);
    if (epilogue != nullptr && m > 0 && n > 0) apply_epilogue(*epilogue, row_base, col_base, m, n, c, ldc);
    return;
  }
  const ThreadGrid grid = thread_grid(m, n, std::max(threads, 1), f.mr, f.nr);
  // Two or three threads in one row or column of the grid, and a shared operand of at most 1 Mi
  // values (B for a column of threads, A for a row): each thread multiplies its own slab of C as
  // a one-thread GEMM, packing all it reads into its own panels, the shared operand once per
  // thread. Sharing the panels saves that packing but costs two barriers per block and reads
  // half of each panel from the other core's cache. On a 2-vCPU Zen 4 (flopslab gemm, 2 threads,
  // 6 processes each way, against oneDNN in the same process) the slabs ran 0.83-0.90x oneDNN at
  // 256^3 where the shared panels ran 0.66-0.85x, and the same within noise at 512^3-1024^3; at
  // 2048^3 the extra packing cost 2-4%. With more threads the copies multiply, and the grid is
  // two-dimensional for most shapes anyway. A fused epilogue (a Linear layer's bias) goes with
  // each slab: in the MLP's 784 -> 256 forward it had kept the barriers, two per k block.
  const std::int64_t shared_operand = grid.cols == 1 ? k * n : m * k;
  if (grid.rows * grid.cols > 1 && grid.rows * grid.cols <= 3 && (grid.rows == 1 || grid.cols == 1) &&
      shared_operand <= (std::int64_t(1) << 20) && read_a_row == nullptr) {
#pragma omp parallel num_threads(grid.rows * grid.cols)
    {
      const int t = omp_get_thread_num();
      if (grid.cols == 1) {
        // Equal rows, in fours, where a partial sliver costs only its rows (the edge kernel):
        // 256 rows on 2 threads as 128 + 128 (10 slivers and 8 rows each), not 132 + 124
        // (11 slivers against 10 and 4 rows, the first thread the last to finish).
        const auto rows = detail::share(m, f.has_edge_kernel() ? 4 : f.mr, t, grid.rows);
        if (rows.second > rows.first)
          gemm_parallel_for(f, Shape{rows.second - rows.first, n, k}, a + rows.first * lda, lda, read_b_row,
                            c + rows.first * ldc, ldc, blk, 1, nullptr, epilogue, row_base + rows.first, col_base,
                            b_t, b_rows);
      } else {
        const auto cols = detail::share(n, f.nr, t, grid.cols);
        const std::int64_t c0 = cols.first;
        const BRowReader slab = [&read_b_row, c0](std::int64_t row, std::int64_t col0, std::int64_t count, float* out) {
          read_b_row(row, c0 + col0, count, out);
        };
        const TransposedB slab_t = b_t != nullptr ? TransposedB{b_t->data + c0 * b_t->ld, b_t->ld} : TransposedB{};
        const RowMajorB slab_rows = b_rows != nullptr ? RowMajorB{b_rows->data + c0, b_rows->ld} : RowMajorB{};
        if (cols.second > cols.first)
          gemm_parallel_for(f, Shape{m, cols.second - cols.first, k}, a, lda, slab, c + c0, ldc, blk, 1, nullptr,
                            epilogue, row_base, col_base + c0, b_t != nullptr ? &slab_t : nullptr,
                            b_rows != nullptr ? &slab_rows : nullptr);
      }
    }
    return;
  }
  const std::int64_t kc_max = std::min(blk.kc, k), depth_max = (kc_max + K - 1) / K;
  const std::int64_t nc_max = std::min(blk.nc, (n + f.nr - 1) / f.nr * f.nr);
  // A is packed a chunk of rows at a time, all of it when the packed copy stays under 8 MiB.
  const std::int64_t chunk_unit = std::int64_t(grid.rows) * f.mr;
  const std::int64_t chunk_rows = std::max(
      chunk_unit,
      std::min((m + chunk_unit - 1) / chunk_unit, ((8 << 20) / std::int64_t(sizeof(Slot) * depth_max)) / chunk_unit) *
          chunk_unit);
  // Shared by the team; allocated by (and kept with) the calling thread, in floats: a slot is
  // one (4 bytes) or two (8 bytes: four bf16 values).
  static_assert(sizeof(Slot) % sizeof(float) == 0);
  constexpr std::int64_t kSlotFloats = sizeof(Slot) / sizeof(float);
  // A read where it lies (read_a_unpacked), and then B too where it is a plain matrix: not
  // packed, and the macro-kernel gets their rows.
  const bool a_unpacked = read_a_row == nullptr && f.has_unpacked_kernel() &&
                          (blk.packing == Packing::none ||
                           (blk.packing == Packing::where_it_pays &&
                            read_a_unpacked(f.mr, lda, nc_max, cache_geometries().level[0])));
  const bool b_unpacked = a_unpacked && b_rows != nullptr && b_t == nullptr &&
                          (blk.packing == Packing::none ||
                           read_b_unpacked(f.mr, kc_max, nc_max, cache_geometries().level[1]));
  Slot* const a_packed =
      a_unpacked ? nullptr : reinterpret_cast<Slot*>(reusable_scratch(kPanelA, chunk_rows * depth_max * kSlotFloats));
  Slot* const b_packed =
      b_unpacked ? nullptr : reinterpret_cast<Slot*>(reusable_scratch(kPanelB, nc_max * depth_max * kSlotFloats));

#pragma omp parallel num_threads(grid.rows * grid.cols)
  {
    const int t = omp_get_thread_num();
    const int my_row = t / grid.cols, my_col = t % grid.cols;
    for (std::int64_t jc = 0; jc < n; jc += blk.nc) {
      const std::int64_t nc = std::min(blk.nc, n - jc);
      const auto [col_begin, col_end] = detail::share(nc, f.nr, my_col, grid.cols);
      for (std::int64_t pc = 0; pc < k; pc += blk.kc) {
        const std::int64_t kc = std::min(blk.kc, k - pc), depth = (kc + K - 1) / K;
        // B is packed in groups of 8 slivers, row by row: each row of a group is one
        // contiguous read of 8 * nr floats. Packing sliver by sliver would read kc rows
        // kc * ldb bytes apart for every sliver, a page and a cache miss per row that the
        // prefetchers cannot follow; with few rows of A to amortise it (a convolution's K
        // filters), that alone cost half the speed.
        // At most 8 slivers per group, and as many groups for every thread: a 256-wide B is
        // one group of 8 (one thread would pack it all while the others wait), and 24 slivers
        // on 2 threads in groups of 8 give one thread twice the other's packing.
        const std::int64_t group = detail::pack_group((nc + f.nr - 1) / f.nr, grid.rows * grid.cols);
        const std::int64_t cols_to_pack = b_unpacked ? 0 : nc;
#pragma omp for schedule(static) nowait
        for (std::int64_t j0 = 0; j0 < cols_to_pack; j0 += group * f.nr) {
          const std::int64_t cols = std::min<std::int64_t>(group * f.nr, nc - j0);
          if (b_t != nullptr) {
            detail::pack_b_group_transposed(f, *b_t, pc, kc, jc + j0, cols, depth, b_packed + j0 * depth);
            continue;
          }
          const std::int64_t padded = (cols + f.nr - 1) / f.nr * f.nr;
          alignas(64) float row[K][detail::kGroup * 64];
          for (std::int64_t p = 0; p < kc; p += K) {
            for (int r = 0; r < K; ++r) {
              if (p + r < kc) {
                read_b_row(pc + p + r, jc + j0, cols, row[r]);
                std::fill(row[r] + cols, row[r] + padded, 0.0f);  // the right edge
              } else {
                std::fill(row[r], row[r] + padded, 0.0f);  // past the last k of an odd block
              }
            }
            for (std::int64_t s = 0; s < cols; s += f.nr) {
              const float* pieces[K];
              for (int r = 0; r < K; ++r) pieces[r] = row[r] + s;
              f.pack_b(pieces, b_packed + (j0 + s) * depth + (p / K) * f.nr);
            }
          }
        }
        for (std::int64_t ic = 0; ic < m; ic += chunk_rows) {
          const std::int64_t rows = std::min(chunk_rows, m - ic);
          const std::int64_t rows_to_pack = a_unpacked ? 0 : rows;  // (the loop's barrier is still needed)
#pragma omp for schedule(static)
          for (std::int64_t i0 = 0; i0 < rows_to_pack; i0 += f.mr) {
            const std::int64_t sliver_rows = std::min<std::int64_t>(f.mr, rows - i0);
            if (read_a_row == nullptr) {
              f.pack_a(a + (ic + i0) * lda + pc, lda, sliver_rows, kc, a_packed + i0 * depth);
            } else {  // the sliver's rows read into a small buffer first, then packed as usual
              alignas(64) float sliver[16 * 512];
              for (std::int64_t r = 0; r < sliver_rows; ++r) (*read_a_row)(ic + i0 + r, pc, kc, sliver + r * kc);
              f.pack_a(sliver, kc, sliver_rows, kc, a_packed + i0 * depth);
            }
          }
          // (implicit barrier: both panels are complete)
          const auto [row_begin, row_end] = detail::share(rows, f.mr, my_row, grid.rows);
          const std::int64_t mc_step = balanced_block(row_end - row_begin, rows_per_block(blk, ldc, f.mr), f.mr);
          if (col_end > col_begin)
            for (std::int64_t i0 = row_begin; i0 < row_end; i0 += mc_step)
              macro_kernel_for(f, std::min(mc_step, row_end - i0), col_end - col_begin, depth,
                               a_unpacked ? reinterpret_cast<const Slot*>(a + (ic + i0) * lda + pc)
                                          : a_packed + i0 * depth,
                               b_unpacked ? reinterpret_cast<const Slot*>(b_rows->data + pc * b_rows->ld + jc + col_begin)
                                          : b_packed + col_begin * depth,
                               c + (ic + i0) * ldc + jc + col_begin, ldc,
                               /*accumulate=*/pc > 0, pc + blk.kc >= k ? epilogue : nullptr, row_base + ic + i0,
                               col_base + jc + col_begin, a_unpacked ? lda : 0, b_unpacked ? b_rows->ld : 0);
#pragma omp barrier
          // (nobody reads the packed panels any more when the next ones are packed over them)
        }
      }
    }
  }
}

}  // namespace flopslab::gemm::packed
