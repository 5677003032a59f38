// The register tiles of convolution steps 6-8, written once over the vector width V (floats):
//   direct_tile            step 6: one output row segment of QT pixels for KB blocks of V filters;
//   weight_grad_rows       step 7, C < V: KT filters x QV vectors of partial sums along a row;
//   weight_grad_blocked    step 7, C >= V: a V x V block of dW for one tap;
//   depthwise_rows         step 8, stride 1: up to 4 vectors of an output row per pass over the taps.
// Each step's file instantiates them in functions carrying an x86 target attribute (AVX-512:
// V = 16, AVX2: V = 8; on aarch64 the V = 8 copies are NEON register pairs), and
// sve_tiles.cpp compiles them once per fixed SVE length (256 bits: V = 8, 512 bits: V = 16),
// where the same GCC vectors become single SVE registers.
//
// The templates have internal linkage (an unnamed namespace) and use nothing from the C++
// library but memcpy: sve_tiles.cpp is compiled with SVE enabled for the whole file, and an
// out-of-line copy of a shared inline function made there could be the one the linker keeps
// for every caller, SVE instructions and all (scripts/test-aarch64 checks that its objects
// define no such symbol).
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <utility>

#include "kernels/cpu/simd_vec.h"

namespace flopslab::conv::cpu {

// ---- step 6 ----
// What one register tile needs: the image's blocked input, the blocked weights of its first
// output block, and where its output row goes.
struct DirectTileLayout {
  std::int64_t cb, c_blocks, hp, wp, r, s, stride_h, stride_w, v;
  std::int64_t weight_block;  // floats from one output block's weights to the next
  std::int64_t pad_top, rows_in;  // the padded rows [pad_top, pad_top + rows_in) hold input; the rest are zeros
  std::int64_t pad_left, cols_in;  // likewise the padded columns [pad_left, pad_left + cols_in)
};
// start: KB x V values the sums start from (zeros, or a layer's bias); out: KB x QT x V sums.
using DirectTileFn = void (*)(const DirectTileLayout&, const float* x, const float* w, const float* start,
                              std::int64_t p, std::int64_t q0, float* out);
struct DirectKernel {
  const char* isa;  // "AVX-512", "AVX2", "NEON (register pairs)", "SVE-256", "SVE-512"
  int v, qt_max[2];
  const DirectTileFn* tiles[2];  // [KB - 1] -> QT - 1
  const DirectTileFn* dense[2];  // the same for stride 1 and cb = V: compile-time offsets, padding columns skipped
};

// ---- step 7 ----
// The padded copies of one call: x as C x Hp x Wp per image, dY as Kp x P x Qv per image.
struct WeightGradRows {
  std::int64_t c, P, r, s, dilation_h, dilation_w;  // the layer
  std::int64_t hp, wp, qv, kp;                      // rows and columns of x; dY's row length and filter count
  std::int64_t q, dy_row;                           // weight_grad_taps: dY's valid columns and row stride
  const float* x;
  const float* dy;
};
using WeightGradRowsFn = void (*)(const WeightGradRows&, std::int64_t n, std::int64_t c, std::int64_t k0,
                                  std::int64_t q0, float* dw_t);
// The blocked form's plane for one tap: dY's rows of Q pixels, x's of wp, and the output
// pixels [p0, p1) x [q0, q1) whose input at the tap lies inside the image (the rest meet
// only padding, and add nothing).
struct WeightGradBlock {
  std::int64_t Q, wp, p0, p1, q0, q1;
};
using WeightGradBlockedFn = void (*)(const WeightGradBlock&, const float* x, const float* dy, float* out);
using WeightGradTapsFn = void (*)(const WeightGradRows&, std::int64_t n, std::int64_t c, std::int64_t k0, float* dw_t);
struct WeightGradKernel {
  const char* isa;
  int v, kt, qv_max;
  std::array<WeightGradRowsFn, 4> rows;  // [QV - 1]
  WeightGradBlockedFn blocked;
  // All taps at once (weight_grad_taps) for filters of exactly `taps_of` taps (3x3: 9),
  // taps_kt filters at a time; null where the registers do not hold enough accumulators
  // (weight_grad_rows then).
  WeightGradTapsFn taps = nullptr;
  int taps_kt = 0, taps_of = 0;
};

// ---- step 8 ----
// Rows are computed qv = Q rounded up to 16 wide (the padded plane is wide enough), so the
// vector loops have no tails; the extra columns are dropped when the row is stored.
struct DepthwisePlane {
  std::int64_t P, Q, qv, wp, r, s, stride_h, stride_w, dilation_h, dilation_w;
};
using DepthwiseRowsFn = void (*)(const DepthwisePlane&, const float* padded, const float* w, float* y);

// The SVE kernels of this build at the process's vector length (sve_tiles.cpp): null where
// the CPU has no SVE, its length is neither 256 nor 512 bits (128: NEON's width, whose
// register pairs are as wide), or the build has none.
const DirectKernel* direct_kernel_sve();
const WeightGradKernel* weight_grad_kernel_sve();
DepthwiseRowsFn depthwise_rows_sve();

namespace {

template <int V>
using TileVec = cpu_simd::Vec<V>;

// One filter tap of direct_tile: acc[b][j] += x[j] * w_b over the tile's input channels, for
// the pixels [L, QT - H) (those outside read only padding at this tap).
template <int V, int QT, int KB, bool kDense, int L, int H>
[[gnu::always_inline]] inline void direct_tile_tap(TileVec<V> (&acc)[KB][QT], const DirectTileLayout& l,
                                                   const float* x_tap, const float* w_tap) {
  for (std::int64_t ci = 0; ci < (kDense ? V : l.cb); ++ci) {
    const float* xs = x_tap + ci;
    const float* ws = w_tap + ci * V;
    TileVec<V> wv[KB];
    for (int b = 0; b < KB; ++b) wv[b] = cpu_simd::load<V>(ws + b * l.weight_block);
    // Unrolled completely, or the accumulators live on the stack (GCC stops unrolling
    // at 16 by itself, and the 1 x 28 tile then ran load-FMA-store: a third the speed).
#pragma GCC unroll 28
    for (int j = L; j < QT - H; ++j) {
      const float xv = xs[kDense ? j * V : j * l.stride_w * l.cb];
#pragma GCC unroll 2
      for (int b = 0; b < KB; ++b) acc[b][j] += xv * wv[b];
    }
  }
}

// direct_tile_tap with L and H (each 0 .. kMaxSkip) chosen at run time: one branch per tap,
// none per pixel.
constexpr int kMaxSkip = 3;
template <int V, int QT, int KB, bool kDense, std::size_t... I>
[[gnu::always_inline]] inline void direct_tile_tap_skipping(TileVec<V> (&acc)[KB][QT], const DirectTileLayout& l,
                                                            const float* x_tap, const float* w_tap, int skip,
                                                            std::index_sequence<I...>) {
  (void)((skip == int(I) ? (direct_tile_tap<V, QT, KB, kDense, int(I) / (kMaxSkip + 1), int(I) % (kMaxSkip + 1)>(
                                acc, l, x_tap, w_tap),
                            true)
                         : false) ||
         ...);
}

// acc[b][j] = start[b] + sum over (input channel, r, s) of x[p*stride + r][(q0 + j)*stride + s] * w_b.
// kDense: stride 1 and full channel blocks (cb = V), so every offset is a compile-time
// constant: the broadcasts fold into the FMAs as memory operands (x86) and free the registers
// that held run-time offsets.
// Taps that read only padding are skipped, as oneDNN skips them: whole filter rows always
// (on a 14-row output with a 3x3 filter, 1 in 21 of the multiply-adds), and in the kDense
// tiles the first and last (up to kMaxSkip) pixels of the tile at each filter column that
// puts them on padding columns (a 7x7 filter on 28 columns: 6% of them), which makes 16
// copies of the tap loop (a few kilobytes per tile width).
template <int V, int QT, int KB, bool kDense = false>
[[gnu::always_inline]] inline void direct_tile(const DirectTileLayout& l, const float* x, const float* w,
                                               const float* start, std::int64_t p, std::int64_t q0,
                                               float* out /* KB x QT x V */) {
  TileVec<V> acc[KB][QT];
  for (int b = 0; b < KB; ++b) {
    const TileVec<V> first = cpu_simd::load<V>(start + b * V);
    for (int j = 0; j < QT; ++j) acc[b][j] = first;
  }
  const std::int64_t top = p * l.stride_h;  // the padded row of filter row 0
  const std::int64_t r0 = l.pad_top > top ? l.pad_top - top : 0;
  const std::int64_t r1 = l.pad_top + l.rows_in - top < l.r ? l.pad_top + l.rows_in - top : l.r;
  const std::int64_t step = kDense ? V : l.cb;  // floats from one filter column to the next
  for (std::int64_t cblock = 0; cblock < l.c_blocks; ++cblock)
    for (std::int64_t r = r0; r < r1; ++r) {
      const float* x_row = x + ((cblock * l.hp + p * l.stride_h + r) * l.wp + q0 * l.stride_w) * l.cb;
      const float* w_row = w + (cblock * l.r + r) * l.s * l.cb * V;
      for (std::int64_t s = 0; s < l.s; ++s) {
        const float* x_tap = x_row + s * step;
        const float* w_tap = w_row + s * l.cb * V;
        if constexpr (kDense) {
          // lo, hi: pixels at the tile's left and right ends that read padding at this tap.
          const std::int64_t col0 = q0 * l.stride_w + s, end = l.pad_left + l.cols_in;
          int lo = 0, hi = 0;
          while (lo < kMaxSkip && lo < QT && col0 + lo * l.stride_w < l.pad_left) ++lo;
          while (hi < kMaxSkip && hi < QT - lo && col0 + (QT - 1 - hi) * l.stride_w >= end) ++hi;
          direct_tile_tap_skipping<V, QT, KB, kDense>(acc, l, x_tap, w_tap, lo * (kMaxSkip + 1) + hi,
                                                      std::make_index_sequence<(kMaxSkip + 1) * (kMaxSkip + 1)>());
        } else {
          direct_tile_tap<V, QT, KB, kDense, 0, 0>(acc, l, x_tap, w_tap);
        }
      }
    }
  static_assert(sizeof(TileVec<V>) == V * sizeof(float));
  std::memcpy(out, acc, sizeof(acc));
}

// Adds to dw_t (taps x Kp floats, tap-major: dw_t[tap * Kp + k]) the contributions of image n
// and input channel c over columns [q0, q0 + QV * V) for filters [k0, k0 + KT).
template <int V, int KT, int QV>
[[gnu::always_inline]] inline void weight_grad_rows(const WeightGradRows& d, std::int64_t n, std::int64_t c,
                                                    std::int64_t k0, std::int64_t q0, float* dw_t) {
  const std::int64_t P = d.P;
  const float* x_image = d.x + (n * d.c + c) * d.hp * d.wp;
  const float* dy_image = d.dy + (n * d.kp + k0) * P * d.qv + q0;
  for (std::int64_t r = 0; r < d.r; ++r)
    for (std::int64_t t = 0; t < d.s; ++t) {
      TileVec<V> acc[KT][QV] = {};
      const float* x_row = x_image + r * d.dilation_h * d.wp + t * d.dilation_w + q0;
      for (std::int64_t p = 0; p < P; ++p) {
        TileVec<V> xv[QV];
        for (int i = 0; i < QV; ++i) xv[i] = cpu_simd::load<V>(x_row + p * d.wp + i * V);
#pragma GCC unroll 6
        for (int kk = 0; kk < KT; ++kk)
#pragma GCC unroll 4
          for (int i = 0; i < QV; ++i) acc[kk][i] += cpu_simd::load<V>(dy_image + (kk * P + p) * d.qv + i * V) * xv[i];
      }
      float* out = dw_t + ((c * d.r + r) * d.s + t) * d.kp + k0;
      for (int kk = 0; kk < KT; ++kk) {
        TileVec<V> sum = acc[kk][0];
        for (int i = 1; i < QV; ++i) sum += acc[kk][i];
        out[kk] += cpu_simd::sum_lanes<V>(sum);
      }
    }
}

// Adds to dw_t (as weight_grad_rows) the contributions of image n and input channel c for
// filters [k0, k0 + KT) and all T = R x S taps at once: KT x T vector accumulators, each
// summing along whole rows (every column vector of the row into the same lanes). Per column
// vector: KT dY loads and T x loads for KT x T FMAs, where weight_grad_rows loads a dY vector
// for every FMA. dY is read in place (rows of dy_row floats, q >= V of them valid), so the call
// needs no padded copy of it. T is the filter's exact tap count: a runtime bound on the tap
// loop left the accumulators in memory.
// The plane form: x_image one padded input plane (d.wp wide), dy_image the first of KT dY planes
// (P x d.dy_row apart), out[i * out_stride + kk] += tap i of filter kk. Step 8 calls it for a
// depthwise layer's planes (KT = 1).
template <int V, int KT, int T>
[[gnu::always_inline]] inline void weight_grad_taps_plane(const WeightGradRows& d, const float* x_image,
                                                          const float* dy_image, float* out, std::int64_t out_stride) {
  const std::int64_t P = d.P, full = d.q / V * V;
  std::int64_t offset[T];
  for (int i = 0; i < T; ++i) offset[i] = i / d.s * d.dilation_h * d.wp + i % d.s * d.dilation_w;
  TileVec<V> acc[KT][T] = {};
  // The last, partial vector of a row is read as the V columns that end the row (q >= V), its
  // lanes already counted zeroed: no read past the row, no copy. (A copy into a zeroed vector
  // stalled every load on store forwarding.)
  alignas(64) float mask_lanes[V];
  for (int l = 0; l < V; ++l) mask_lanes[l] = l >= V - (d.q - full) ? 1.0f : 0.0f;
  const TileVec<V> tail_mask = cpu_simd::load<V>(mask_lanes);
  // Column vector by column vector, each down the whole plane: the inner loop runs P times
  // with the accumulators in registers (per row, with the columns inside, GCC kept them in
  // memory around a one- or two-vector loop). The partial last vector has a loop of its own.
  auto column = [&]<bool kTail>(std::int64_t q0) {
    for (std::int64_t p = 0; p < P; ++p) {
      TileVec<V> dy[KT];
      for (int kk = 0; kk < KT; ++kk) {
        const float* row = dy_image + (kk * P + p) * d.dy_row + q0;
        dy[kk] = cpu_simd::load<V>(row);
        if constexpr (kTail) dy[kk] *= tail_mask;
      }
      const float* x_row = x_image + p * d.wp + q0;
#pragma GCC unroll 9
      for (int i = 0; i < T; ++i) {
        const TileVec<V> xv = cpu_simd::load<V>(x_row + offset[i]);
#pragma GCC unroll 4
        for (int kk = 0; kk < KT; ++kk) acc[kk][i] += dy[kk] * xv;
      }
    }
  };
  for (std::int64_t q0 = 0; q0 < full; q0 += V) column.template operator()<false>(q0);
  if (full < d.q) column.template operator()<true>(d.q - V);
  for (int i = 0; i < T; ++i)
    for (int kk = 0; kk < KT; ++kk) out[i * out_stride + kk] += cpu_simd::sum_lanes<V>(acc[kk][i]);
}
// A depthwise 3x3 filter's 9 taps (stride 1, no dilation) from one plane, with each input
// row loaded once per column vector: x row a meets dY rows a, a - 1 and a - 2 (taps r = 0, 1,
// 2), whose vectors stay in registers as the loop walks down the plane. That is 3 loads of x
// (each kept in a register for its 3 FMAs) and 1 of dY per 9 FMAs, where
// weight_grad_taps_plane loads x once per tap: 10 loads per 9 FMAs, most of them split across
// cache lines, and on Zen 4 the loads, not the FMAs, set its pace (300 -> 195 ns for a 28 x 28
// plane in L1). The two rows past the plane's end add zeros. out[i] += tap i.
template <int V>
[[gnu::always_inline]] inline void depthwise_weight_grad_3x3(const WeightGradRows& d, const float* x_image,
                                                             const float* dy_image, float* out) {
  const std::int64_t P = d.P, full = d.q / V * V;
  TileVec<V> acc[9] = {};
  alignas(64) float mask_lanes[V];  // as in weight_grad_taps_plane: the last vector ends the row
  for (int l = 0; l < V; ++l) mask_lanes[l] = l >= V - (d.q - full) ? 1.0f : 0.0f;
  const TileVec<V> tail_mask = cpu_simd::load<V>(mask_lanes);
  auto column = [&]<bool kTail>(std::int64_t q0) {
    TileVec<V> dy0 = {}, dy1 = {}, dy2 = {};  // dY rows a, a - 1 and a - 2; zero outside the plane
    // Inlined always: a lambda compiled on its own would lose the caller's target attribute.
    auto input_row = [&](std::int64_t a) __attribute__((always_inline)) {
      const float* x_row = x_image + a * d.wp + q0;
#pragma GCC unroll 3
      for (int t = 0; t < 3; ++t) {
        const TileVec<V> xv = cpu_simd::load_to_register<V>(x_row + t);
        acc[t] += dy0 * xv, acc[3 + t] += dy1 * xv, acc[6 + t] += dy2 * xv;
      }
    };
    for (std::int64_t a = 0; a < P; ++a) {
      dy2 = dy1, dy1 = dy0, dy0 = cpu_simd::load<V>(dy_image + a * d.dy_row + q0);
      if constexpr (kTail) dy0 *= tail_mask;
      input_row(a);
    }
    dy2 = dy1, dy1 = dy0, dy0 = TileVec<V>{};
    input_row(P);
    dy2 = dy1, dy1 = dy0;
    input_row(P + 1);
  };
  for (std::int64_t q0 = 0; q0 < full; q0 += V) column.template operator()<false>(q0);
  if (full < d.q) column.template operator()<true>(d.q - V);
  for (int i = 0; i < 9; ++i) out[i] += cpu_simd::sum_lanes<V>(acc[i]);
}
template <int V, int KT, int T>
[[gnu::always_inline]] inline void weight_grad_taps(const WeightGradRows& d, std::int64_t n, std::int64_t c,
                                                    std::int64_t k0, float* dw_t) {
  weight_grad_taps_plane<V, KT, T>(d, d.x + (n * d.c + c) * d.hp * d.wp, d.dy + (n * d.kp + k0) * d.P * d.dy_row,
                                   dw_t + c * T * d.kp + k0, d.kp);
}

// For one tap (r, s), a block of V input channels and one of V filters, dW's V x V block
// lives in V registers (one per input channel, its lanes the filters); each output pixel adds
// one dY vector times V broadcast input values: V FMAs for V + 1 loads. Only the output
// pixels [p0, p1) x [q0, q1) whose input at this tap is not padding are visited.
template <int V>
[[gnu::always_inline]] inline void weight_grad_blocked(const WeightGradBlock& b, const float* x, const float* dy,
                                                       float* out /* V x V, added to */) {
  TileVec<V> acc[V] = {};
  for (std::int64_t p = b.p0; p < b.p1; ++p)
    for (std::int64_t q = b.q0; q < b.q1; ++q) {
      const TileVec<V> d = cpu_simd::load<V>(dy + (p * b.Q + q) * V);
      const float* xp = x + (p * b.wp + q) * V;
#pragma GCC unroll 16
      for (int ci = 0; ci < V; ++ci) acc[ci] += xp[ci] * d;
    }
  for (int ci = 0; ci < V; ++ci) {
    TileVec<V> o = cpu_simd::load<V>(out + ci * V) + acc[ci];
    std::memcpy(out + ci * V, &o, sizeof o);
  }
}

// Stride 1: NV vectors of an output row stay in registers while the taps add into them.
template <int V, int NV>
[[gnu::always_inline]] inline void depthwise_rows_of(const DepthwisePlane& l, const float* padded, const float* w,
                                                     float* y) {
  alignas(64) float out[NV * V];
  for (std::int64_t p = 0; p < l.P; ++p)
    for (std::int64_t q0 = 0; q0 < l.qv; q0 += NV * V) {
      TileVec<V> acc[NV] = {};
      for (std::int64_t r = 0; r < l.r; ++r) {
        const float* x_row = padded + (p + r * l.dilation_h) * l.wp + q0;
        for (std::int64_t t = 0; t < l.s; ++t) {
          const float tap = w[r * l.s + t];
          for (int i = 0; i < NV; ++i) acc[i] += tap * cpu_simd::load<V>(x_row + t * l.dilation_w + i * V);
        }
      }
      std::memcpy(out, acc, sizeof acc);
      const std::int64_t width = l.Q - q0 < NV * V ? l.Q - q0 : NV * V;
      for (std::int64_t j = 0; j < width; ++j) y[p * l.Q + q0 + j] = out[j];
    }
}
// Rows of at least one vector: the vectors start at 0, V, 2V, ... and the last at Q - V, so
// each is stored whole into y (the last overlapping its neighbour with the same values): no
// staging buffer and no per-row copy loop, which GCC made a memmove call as costly as the
// FMAs. NV vectors at a time; starts past the last repeat it.
// PR rows at a time: with one row, each accumulator waited on the FMA before it (two chains
// of 9 on a 28-wide row), so two rows double the independent sums.
template <int V, int NV, int PR>
[[gnu::always_inline]] inline void depthwise_full_rows_block(const DepthwisePlane& l, const float* padded,
                                                             const float* w, std::int64_t p,
                                                             const std::int64_t (&start)[NV], float* y) {
  TileVec<V> acc[PR][NV] = {};
  for (std::int64_t r = 0; r < l.r; ++r)
    for (std::int64_t t = 0; t < l.s; ++t) {
      const float tap = w[r * l.s + t];
      for (int j = 0; j < PR; ++j) {
        const float* x = padded + (p + j + r * l.dilation_h) * l.wp + t * l.dilation_w;
        for (int i = 0; i < NV; ++i) acc[j][i] += tap * cpu_simd::load<V>(x + start[i]);
      }
    }
  for (int j = 0; j < PR; ++j)
    for (int i = 0; i < NV; ++i) std::memcpy(y + (p + j) * l.Q + start[i], &acc[j][i], sizeof acc[j][i]);
}
// A 3x3 filter, undilated, with 16-float vectors (32 registers): each input row is loaded
// once per vector and shift (3 loads, each kept in a register) and added into the three output
// rows it reaches: x row a is tap row 0 of output row a, 1 of row a - 1 and 2 of row a - 2,
// whose sums stay in registers as the loop walks down the plane; row a - 2 is then complete and
// stored. 3 loads per 9 FMAs, where depthwise_full_rows_block loads x once per FMA. The first
// and last two input rows reach fewer output rows (P >= 2).
template <int V, int NV>
[[gnu::always_inline]] inline void depthwise_rolling_rows_3x3(const DepthwisePlane& l, const float* padded,
                                                              const float* w, const std::int64_t (&start)[NV],
                                                              float* y) {
  TileVec<V> tap[9];
  for (int i = 0; i < 9; ++i) tap[i] = TileVec<V>{} + w[i];
  TileVec<V> acc0[NV] = {}, acc1[NV] = {}, acc2[NV] = {};  // output rows a, a - 1, a - 2
  // kFirst: output row a exists (a < P); kMiddle: row a - 1 does; kLast: row a - 2 does (a >= 2).
  // Inlined always: a lambda compiled on its own would lose the caller's target attribute.
  auto input_row = [&]<bool kFirst, bool kMiddle, bool kLast>(std::int64_t a) __attribute__((always_inline)) {
    const float* x_row = padded + a * l.wp;
    for (int i = 0; i < NV; ++i) {
#pragma GCC unroll 3
      for (int t = 0; t < 3; ++t) {
        const TileVec<V> xv = cpu_simd::load_to_register<V>(x_row + start[i] + t);
        if constexpr (kFirst) acc0[i] = t == 0 ? tap[t] * xv : acc0[i] + tap[t] * xv;
        if constexpr (kMiddle) acc1[i] += tap[3 + t] * xv;
        if constexpr (kLast) acc2[i] += tap[6 + t] * xv;
      }
      if constexpr (kLast) std::memcpy(y + (a - 2) * l.Q + start[i], &acc2[i], sizeof acc2[i]);
    }
    for (int i = 0; i < NV; ++i) acc2[i] = acc1[i], acc1[i] = acc0[i];
  };
  const std::int64_t P = l.P;
  input_row.template operator()<true, false, false>(0);
  input_row.template operator()<true, true, false>(1);  // P >= 2
  for (std::int64_t a = 2; a < P; ++a) input_row.template operator()<true, true, true>(a);
  input_row.template operator()<false, true, true>(P);
  input_row.template operator()<false, false, true>(P + 1);
}
// NV vectors of each row at a time, by depthwise_full_rows_block (two rows a pass) or, with
// kRolling, depthwise_rolling_rows_3x3 (the whole plane a pass).
template <int V, int NV, bool kRolling>
[[gnu::always_inline]] inline void depthwise_full_rows_of(const DepthwisePlane& l, const float* padded, const float* w,
                                                          float* y) {
  const std::int64_t vectors = (l.Q + V - 1) / V;
  for (std::int64_t v0 = 0; v0 < vectors; v0 += NV) {
    std::int64_t start[NV];
    for (int i = 0; i < NV; ++i) start[i] = (v0 + i) * V < l.Q - V ? (v0 + i) * V : l.Q - V;
    if constexpr (kRolling) {
      depthwise_rolling_rows_3x3<V, NV>(l, padded, w, start, y);
    } else {
      std::int64_t p = 0;
      for (; p + 2 <= l.P; p += 2) depthwise_full_rows_block<V, NV, 2>(l, padded, w, p, start, y);
      if (p < l.P) depthwise_full_rows_block<V, NV, 1>(l, padded, w, p, start, y);
    }
  }
}
template <int V, bool kRolling>
[[gnu::always_inline]] inline void depthwise_full_rows(const DepthwisePlane& l, const float* padded, const float* w,
                                                       float* y) {
  const std::int64_t vectors = (l.Q + V - 1) / V;
  if (vectors == 1) return depthwise_full_rows_of<V, 1, kRolling>(l, padded, w, y);
  if (vectors == 2) return depthwise_full_rows_of<V, 2, kRolling>(l, padded, w, y);
  if (vectors == 3) return depthwise_full_rows_of<V, 3, kRolling>(l, padded, w, y);
  depthwise_full_rows_of<V, 4, kRolling>(l, padded, w, y);
}

// Rows of at least one vector go whole (above), up to 4 vectors per pass; a narrower row is
// computed qv = 16 wide through the staging buffer: one vector of 16 floats or two of 8.
template <int V>
[[gnu::always_inline]] inline void depthwise_rows(const DepthwisePlane& l, const float* padded, const float* w,
                                                  float* y) {
  if constexpr (V == 16)  // the rolling kernel's sums and taps need 32 registers
    if (l.Q >= V && l.P >= 2 && l.r == 3 && l.s == 3 && l.dilation_h == 1 && l.dilation_w == 1)
      return depthwise_full_rows<V, true>(l, padded, w, y);
  if (l.Q >= V) return depthwise_full_rows<V, false>(l, padded, w, y);
  if (l.qv <= V) return depthwise_rows_of<V, 1>(l, padded, w, y);
  depthwise_rows_of<V, 2>(l, padded, w, y);
}

}  // namespace
}  // namespace flopslab::conv::cpu
