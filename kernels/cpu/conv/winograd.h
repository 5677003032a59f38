// What steps 9 and 10 share: Winograd's minimal filtering for stride-1 3x3 layers (Lavin and Gray 2016,
// "Fast Algorithms for Convolutional Neural Networks"), two extra rungs: fewer multiplications,
// paid for in rounding error.
//
// F(m x m, 3 x 3) computes an m x m output tile from a t x t input tile, t = m + 2:
//   Y = A^T [ (G g G^T) . (B^T d B) ] A        (. is the elementwise product)
// The filter transform U = G g G^T is done once per call; the input transform V = B^T d B
// once per tile and channel; then for each of the t^2 positions (xi, nu) the sum over input
// channels is a GEMM, M[xi][nu] (K x tiles) = U[xi][nu] (K x C) * V[xi][nu] (C x tiles),
// over every tile of the batch at once; the output transform A^T M A gives the tile.
// Multiplications per output: t^2 / m^2 * C*K against 9 * C*K: 2.25x fewer for F(2x2, 3x3)
// (t = 4), 4x fewer for F(4x4, 3x3) (t = 6). The transforms are additions and small
// constants, but their coefficients grow with t (B^T of F(4x4) has 5s and 4s, G has 1/6 and
// 1/24), and so does the error. Measured as max |y - y_ref| over the sum of |w x| of each
// output's terms, on a 48 -> 40 channel 14 x 14 layer in float32 (tests/test_conv.cpp):
// direct 1.7e-7, F(2x2) 0.9e-7 (its short sums round less), F(4x4) 9.4e-7, 5x the direct
// sum's. The bound each variant declares below (2^-21 and 2^-18 per input) holds with a
// margin of 4x or more. Forward only; stride 1, 3x3, no dilation, groups of 1.
//
// Speed: the transforms vectorise along a row of tiles, and a row is short (7 tiles of a
// 28 x 28 image for F(4x4)), so their vectors are mostly empty; on the 128-channel 28 x 28
// layer perf puts 38% of the time in the transforms and 5% in the GEMM micro-kernel, and the
// rung runs at a quarter of the direct kernel's speed. The fix is oneDNN's: transforms on
// the channel-blocked layout with vectors along channels, and V stored tile-major.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "kernels/cpu/conv/conv_cpu.h"
#include "kernels/cpu/multiversion.h"

namespace flopslab::conv::cpu::winograd {

// B^T, G and A^T of F(M x M, 3 x 3): each rung's file defines its own (t = M + 2).
template <int M>
struct Transforms;

inline const char* unsupported(const Shape& s) {
  if (s.r != 3 || s.s != 3) return "3x3 filters only";
  if (s.stride_h != 1 || s.stride_w != 1) return "stride 1 only";
  if (s.dilation_h != 1 || s.dilation_w != 1) return "no dilation";
  if (s.groups != 1) return "groups of 1 only";
  return nullptr;
}

// The transforms run a whole row of tiles at a time: lane l of every array below is tile
// (th, l), so each step is one loop over the row's tiles with a constant coefficient, which
// the compiler turns into vector operations (compiled per ISA level: AVX2 and AVX-512 too); the
// coefficients that are 0 are skipped at compile time.
constexpr std::int64_t kLanes = 64;  // tiles per pass: a row of tiles, in pieces of 64

// V[pos][c][tile0 + l] = (B^T d_l B)[pos] for the tiles of one row, d_l the t x t input tile of
// lane l, read from `rows`: t zero-padded input rows (row i at rows + i * stride).
template <int M>
[[gnu::always_inline]] inline void input_tiles(const float* rows, std::int64_t stride, std::int64_t lanes, float* v,
                                               std::int64_t pos_stride) {
  using T = Transforms<M>;
  constexpr int t = T::t;
  float d[t][t][kLanes], bd[t][t][kLanes];
  for (int i = 0; i < t; ++i)
    for (int j = 0; j < t; ++j)
      for (std::int64_t l = 0; l < lanes; ++l) d[i][j][l] = rows[i * stride + l * M + j];
#pragma GCC unroll 6
  for (int i = 0; i < t; ++i)
#pragma GCC unroll 6
    for (int j = 0; j < t; ++j) {
      for (std::int64_t l = 0; l < lanes; ++l) bd[i][j][l] = 0.0f;
#pragma GCC unroll 6
      for (int k = 0; k < t; ++k)
        if (T::bt[i][k] != 0.0f)
          for (std::int64_t l = 0; l < lanes; ++l) bd[i][j][l] += T::bt[i][k] * d[k][j][l];
    }
#pragma GCC unroll 6
  for (int i = 0; i < t; ++i)
#pragma GCC unroll 6
    for (int j = 0; j < t; ++j) {
      float* out = v + (i * t + j) * pos_stride;
      for (std::int64_t l = 0; l < lanes; ++l) out[l] = 0.0f;
#pragma GCC unroll 6
      for (int k = 0; k < t; ++k)
        if (T::bt[j][k] != 0.0f)
          for (std::int64_t l = 0; l < lanes; ++l) out[l] += T::bt[j][k] * bd[i][k][l];
    }
}

// Y = A^T M_l A for the tiles of one row: m[pos * pos_stride + l] in, the M x M tiles written
// into `out` (M rows of `stride` floats, tile l at column l * M).
template <int M>
[[gnu::always_inline]] inline void output_tiles(const float* m, std::int64_t pos_stride, std::int64_t lanes,
                                                float* out, std::int64_t stride) {
  using T = Transforms<M>;
  constexpr int t = T::t;
  float am[M][t][kLanes], y[M][M][kLanes];
#pragma GCC unroll 6
  for (int i = 0; i < M; ++i)
#pragma GCC unroll 6
    for (int j = 0; j < t; ++j) {
      for (std::int64_t l = 0; l < lanes; ++l) am[i][j][l] = 0.0f;
#pragma GCC unroll 6
      for (int k = 0; k < t; ++k)
        if (T::at[i][k] != 0.0f)
          for (std::int64_t l = 0; l < lanes; ++l) am[i][j][l] += T::at[i][k] * m[(k * t + j) * pos_stride + l];
    }
#pragma GCC unroll 4
  for (int i = 0; i < M; ++i)
#pragma GCC unroll 4
    for (int j = 0; j < M; ++j) {
      for (std::int64_t l = 0; l < lanes; ++l) y[i][j][l] = 0.0f;
#pragma GCC unroll 6
      for (int k = 0; k < t; ++k)
        if (T::at[j][k] != 0.0f)
          for (std::int64_t l = 0; l < lanes; ++l) y[i][j][l] += T::at[j][k] * am[i][k][l];
    }
  for (int i = 0; i < M; ++i)
    for (std::int64_t l = 0; l < lanes; ++l)
      for (int j = 0; j < M; ++j) out[i * stride + l * M + j] = y[i][j][l];
}

// The whole forward pass of F(M x M, 3 x 3); InputTiles and OutputTiles are input_tiles<M> and
// output_tiles<M> compiled per ISA level in the rung's own file.
template <int M, auto InputTiles, auto OutputTiles>
void forward(const Operands& op, const RunContext& ctx) {
  using T = Transforms<M>;
  constexpr int t = T::t, tt = t * t;
  const Shape& s = op.shape;
  const std::int64_t P = s.p(), Q = s.q(), tiles_h = (P + M - 1) / M, tiles_w = (Q + M - 1) / M;
  const std::int64_t tiles = s.n * tiles_h * tiles_w;  // the GEMMs' columns: every tile of the batch

  // U[pos][k][c] = (G g G^T)[pos] for filter k, channel c.
  std::vector<float> u(std::size_t(tt * s.k * s.c));
#pragma omp parallel for collapse(2) schedule(static) num_threads(ctx.threads)
  for (std::int64_t k = 0; k < s.k; ++k)
    for (std::int64_t c = 0; c < s.c; ++c) {
      const float* g = op.w + (k * s.c + c) * 9;
      float gg[t][3];  // G g
      for (int i = 0; i < t; ++i)
        for (int j = 0; j < 3; ++j) gg[i][j] = T::g[i][0] * g[j] + T::g[i][1] * g[3 + j] + T::g[i][2] * g[6 + j];
      for (int i = 0; i < t; ++i)
        for (int j = 0; j < t; ++j)
          u[std::size_t(((i * t + j) * s.k + k) * s.c + c)] =
              gg[i][0] * T::g[j][0] + gg[i][1] * T::g[j][1] + gg[i][2] * T::g[j][2];
    }

  // V[pos][c][tile]: a row of tiles at a time from t zero-padded input rows.
  std::vector<float> v(std::size_t(tt * s.c * tiles));
  const std::int64_t row_width = tiles_w * M + 2;  // every column a tile row reads
#pragma omp parallel num_threads(ctx.threads)
  {
    std::vector<float> rows(std::size_t(t * row_width));
#pragma omp for collapse(3) schedule(static)
    for (std::int64_t n = 0; n < s.n; ++n)
      for (std::int64_t c = 0; c < s.c; ++c)
        for (std::int64_t th = 0; th < tiles_h; ++th) {
          const float* x = op.x + (n * s.c + c) * s.h * s.w;
          std::fill(rows.begin(), rows.end(), 0.0f);
          for (int i = 0; i < t; ++i) {
            const std::int64_t h = th * M - s.pad_h + i;
            if (h < 0 || h >= s.h) continue;
            const std::int64_t w0 = std::max<std::int64_t>(0, -s.pad_w), w1 = std::min(s.w, row_width - s.pad_w);
            if (w1 > w0) std::copy(x + h * s.w + w0, x + h * s.w + w1, rows.data() + i * row_width + w0 + s.pad_w);
          }
          const std::int64_t tile0 = (n * tiles_h + th) * tiles_w;
          for (std::int64_t l0 = 0; l0 < tiles_w; l0 += kLanes) {
            const std::int64_t lanes = std::min(kLanes, tiles_w - l0);
            float* out = v.data() + c * tiles + tile0 + l0;
            InputTiles(rows.data() + l0 * M, row_width, lanes, out, s.c * tiles);
          }
        }
  }

  // t^2 GEMMs: M[pos] (K x tiles) = U[pos] (K x C) * V[pos] (C x tiles).
  std::vector<float> m(std::size_t(tt * s.k * tiles));
  for (int pos = 0; pos < tt; ++pos)
    best_gemm({.shape = {s.k, tiles, s.c},
               .a = u.data() + pos * s.k * s.c,
               .lda = s.c,
               .b = v.data() + pos * s.c * tiles,
               .ldb = tiles,
               .c = m.data() + pos * s.k * tiles,
               .ldc = tiles},
              ctx.threads);

  // Y = A^T M A, a row of tiles at a time, cropped at the image's edge.
#pragma omp parallel num_threads(ctx.threads)
  {
    const std::int64_t out_width = tiles_w * M;
    std::vector<float> out(std::size_t(M * out_width));
#pragma omp for collapse(3) schedule(static)
    for (std::int64_t n = 0; n < s.n; ++n)
      for (std::int64_t k = 0; k < s.k; ++k)
        for (std::int64_t th = 0; th < tiles_h; ++th) {
          const std::int64_t tile0 = (n * tiles_h + th) * tiles_w;
          for (std::int64_t l0 = 0; l0 < tiles_w; l0 += kLanes) {
            const std::int64_t lanes = std::min(kLanes, tiles_w - l0);
            OutputTiles(m.data() + k * tiles + tile0 + l0, s.k * tiles, lanes,
                                                        out.data() + l0 * M, out_width);
          }
          float* y = op.y + (n * s.k + k) * P * Q;
          for (int i = 0; i < M && th * M + i < P; ++i) std::copy_n(out.data() + i * out_width, Q, y + (th * M + i) * Q);
        }
  }
}

}  // namespace flopslab::conv::cpu::winograd

// input_tiles_M and output_tiles_M in namespace flopslab::conv::cpu, compiled per ISA level
// (multiversion.h), for a rung's file to hand to winograd::forward<M, ...>.
#define FLOPSLAB_WINOGRAD_TILE_FUNCTIONS(M)                                                                  \
  namespace flopslab::conv::cpu {                                                                            \
  FLOPSLAB_MULTIVERSION(void, input_tiles_##M,                                                               \
                        (const float* rows, std::int64_t stride, std::int64_t lanes, float* v, std::int64_t ps), \
                        (rows, stride, lanes, v, ps)) {                                                      \
    winograd::input_tiles<M>(rows, stride, lanes, v, ps);                                                    \
  }                                                                                                          \
  FLOPSLAB_MULTIVERSION(void, output_tiles_##M,                                                              \
                        (const float* m, std::int64_t ps, std::int64_t lanes, float* out, std::int64_t stride), \
                        (m, ps, lanes, out, stride)) {                                                       \
    winograd::output_tiles<M>(m, ps, lanes, out, stride);                                                    \
  }                                                                                                          \
  }
