// Step 6: the direct convolution again (step 1), now on a channel-blocked layout, as oneDNN's
// x86 kernels do (Georganas et al. 2018, "Anatomy of high-performance deep learning
// convolutions on SIMD architectures").
//
// The GEMM rungs pay for im2col: every filter tap's copy of the input is gathered into the
// packed B panel, and each gathered element is used only K times (once per filter). For the
// first layers of a small CNN (K = 16-32 filters, C = 1-16 channels) that gather costs more
// than the multiply. Here nothing is gathered:
//   input   N x C x H x W -> N x C/cb x Hp x Wp x cb: cb = min(C, V) channels side by side, the
//           zero padding written in (Hp, Wp), so the inner loops have no bounds checks;
//   weights K x C x R x S -> K/V x C/cb x R x S x cb x V: for one tap and one input channel,
//           the V output channels of a block are one vector;
//   kernel  one output row segment of QT pixels for KB blocks of V output channels lives in
//           KB * QT vector registers; each (input channel, tap) adds one weight vector times
//           a broadcast input value to each of them: KB * QT FMAs per KB + QT loads.
// V is the vector width (16 floats with AVX-512, 8 with AVX2), QT and KB are the register
// tile (AVX-512's 32 registers: 2 x 14 or 1 x 28; AVX2's 16: 2 x 6 or 1 x 12). The output
// is written back as NCHW with the fused epilogue of fused.h (scale, shift, residual, ReLU,
// output slices) applied on the way. Both layout conversions are counted in the time.
// Backward-data for stride 1 is the same kernel on dY with the filters flipped (below).
// Grouped layers read only their group's channel blocks (one pass when groups fill whole
// blocks, else group by group). No dilation; the weight gradient is step 7's.
#include "kernels/cpu/conv/direct_blocked.h"
#include "kernels/cpu/conv/register_tiles.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "kernels/cpu/conv/conv_cpu.h"
#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/isa_targets.h"
#include "kernels/cpu/transpose_avx512.h"
#include "kernels/registry.h"

namespace flopslab::conv {
extern const ConvVariant kCpuBatched;
}

namespace flopslab::conv::cpu {
namespace {

using Layout = DirectTileLayout;
using TileFn = DirectTileFn;
using Kernel = DirectKernel;

template <int QT, int KB>
FLOPSLAB_TARGET_AVX512_FMA void tile_avx512(const Layout& l, const float* x, const float* w, const float* start,
                                            std::int64_t p, std::int64_t q0, float* out) {
  direct_tile<16, QT, KB>(l, x, w, start, p, q0, out);
}
template <int QT, int KB>
FLOPSLAB_TARGET_AVX2_FMA void tile_avx2(const Layout& l, const float* x, const float* w, const float* start,
                                        std::int64_t p, std::int64_t q0, float* out) {
  direct_tile<8, QT, KB>(l, x, w, start, p, q0, out);
}

template <int QT, int KB>
FLOPSLAB_TARGET_AVX512_FMA void dense_avx512(const Layout& l, const float* x, const float* w, const float* start,
                                             std::int64_t p, std::int64_t q0, float* out) {
  direct_tile<16, QT, KB, true>(l, x, w, start, p, q0, out);
}
template <int QT, int KB>
FLOPSLAB_TARGET_AVX2_FMA void dense_avx2(const Layout& l, const float* x, const float* w, const float* start,
                                         std::int64_t p, std::int64_t q0, float* out) {
  direct_tile<8, QT, KB, true>(l, x, w, start, p, q0, out);
}

// tiles[KB - 1][QT - 1] for QT = 1 .. max: the full tile and every tail width (kDense: the
// tiles for stride 1 and whole channel blocks, which skip padding columns).
template <int KB, bool kAvx512, bool kDense, std::size_t... I>
constexpr std::array<TileFn, sizeof...(I)> tile_table(std::index_sequence<I...>) {
  if constexpr (kAvx512 && kDense) return {&dense_avx512<int(I) + 1, KB>...};
  else if constexpr (kAvx512) return {&tile_avx512<int(I) + 1, KB>...};
  else if constexpr (kDense) return {&dense_avx2<int(I) + 1, KB>...};
  else return {&tile_avx2<int(I) + 1, KB>...};
}

const Kernel* kernel_here() {
  static constexpr auto avx512_1 = tile_table<1, true, false>(std::make_index_sequence<28>());
  static constexpr auto avx512_2 = tile_table<2, true, false>(std::make_index_sequence<14>());
  static constexpr auto avx512_dense_1 = tile_table<1, true, true>(std::make_index_sequence<28>());
  static constexpr auto avx512_dense_2 = tile_table<2, true, true>(std::make_index_sequence<14>());
  static constexpr auto avx2_1 = tile_table<1, false, false>(std::make_index_sequence<12>());
  static constexpr auto avx2_2 = tile_table<2, false, false>(std::make_index_sequence<6>());
  static constexpr auto avx2_dense_1 = tile_table<1, false, true>(std::make_index_sequence<12>());
  static constexpr auto avx2_dense_2 = tile_table<2, false, true>(std::make_index_sequence<6>());
  static const Kernel avx512{"AVX-512",
                             16,
                             {28, 14},
                             {avx512_1.data(), avx512_2.data()},
                             {avx512_dense_1.data(), avx512_dense_2.data()}};
  static const Kernel avx2{cpu_features().neon ? "NEON (register pairs)" : "AVX2",
                           8,
                           {12, 6},
                           {avx2_1.data(), avx2_2.data()},
                           {avx2_dense_1.data(), avx2_dense_2.data()}};
  if (cpu_features().can_avx512()) return &avx512;
  if (const Kernel* sve = direct_kernel_sve()) return sve;  // SVE at 256 or 512 bits
  if (cpu_features().can_vec8_fma()) return &avx2;           // NEON runs it as register pairs
  return nullptr;
}

// The 16 x 16 transposes of the layout conversions are AVX-512 code; other paths (SVE-512
// included) move the floats one by one.
bool avx512_transposes() { return cpu_features().can_avx512(); }

}  // namespace

const char* direct_blocked_unsupported(const Shape& s) {
  if (kernel_here() == nullptr) return "needs AVX2 and FMA (or AVX-512)";
  if (s.dilation_h != 1 || s.dilation_w != 1) return "no dilation";
  return nullptr;
}

int direct_blocked_vector_floats() {
  const Kernel* k = kernel_here();
  return k == nullptr ? 0 : k->v;
}

std::string direct_blocked_detail() {
  const Kernel* k = kernel_here();
  if (k == nullptr) return "not here: needs AVX2 and FMA";
  return std::string(k->isa) + ", NCHW" + std::to_string(k->v) + "c: register tiles of 2 x " +
         std::to_string(k->qt_max[1]) + " or 1 x " + std::to_string(k->qt_max[0]) + " vectors" +
         "; backward-data as the convolution of dY with the flipped filters (strided layers: step 5)";
}

void to_blocked(const BlockedLayout& b, const float* x, float* out, int threads) {
  const std::int64_t image = (b.channels + b.cb - 1) / b.cb * b.hp * b.wp * b.cb;
  const std::int64_t rows = std::min(b.h, b.hp - b.pad_h), cols = std::min(b.w, b.wp - b.pad_w);
  const int V = direct_blocked_vector_floats();
  // Pixel by pixel, its cb channels side by side: the writes run along the buffer, the reads
  // along cb input rows at once (16 x 16 blocks transposed in registers with AVX-512).
#pragma omp parallel for collapse(2) schedule(static) num_threads(threads)
  for (std::int64_t n = 0; n < b.images; ++n)
    for (std::int64_t cblock = 0; cblock < (b.channels + b.cb - 1) / b.cb; ++cblock) {
      const std::int64_t c0 = cblock * b.cb, channels = std::min(b.cb, b.channels - c0);
      const float* src = x + n * (b.image_stride > 0 ? b.image_stride : b.channels * b.h * b.w) + c0 * b.h * b.w;
      // Zeros only where no input lands: the padding rows and columns, or the whole block when
      // it lacks channels (zeroing every block first was a megabyte per call on a small layer).
      float* block = out + n * image + cblock * b.hp * b.wp * b.cb;
      if (channels < b.cb) {
        std::fill_n(block, b.hp * b.wp * b.cb, 0.0f);
      } else {
        for (std::int64_t hp = 0; hp < b.hp; ++hp) {
          float* row = block + hp * b.wp * b.cb;
          if (hp < b.pad_h || hp >= b.pad_h + rows) {
            std::fill_n(row, b.wp * b.cb, 0.0f);
          } else {
            std::fill_n(row, b.pad_w * b.cb, 0.0f);
            std::fill_n(row + (b.pad_w + cols) * b.cb, (b.wp - b.pad_w - cols) * b.cb, 0.0f);
          }
        }
      }
      for (std::int64_t h = 0; h < rows; ++h) {
        float* dst = out + n * image + ((cblock * b.hp + h + b.pad_h) * b.wp + b.pad_w) * b.cb;
        std::int64_t w = 0;
        if (b.cb == 1) std::copy_n(src + h * b.w, cols, dst), w = cols;  // one channel: NCHW as it is
        else if (V == 16 && b.cb <= 16 && avx512_transposes())
          // The last block too, however narrow: a 14-pixel row taken element by element cost a
          // third of step 7's time on a 14x14 layer.
          for (; w < cols; w += 16)
            cpu_simd::transpose_16x16_avx512(src + h * b.w + w, b.h * b.w, int(channels),
                                             int(std::min<std::int64_t>(16, cols - w)), dst + w * b.cb, b.cb);
        for (; w < cols; ++w)
          for (std::int64_t ci = 0; ci < channels; ++ci) dst[w * b.cb + ci] = src[(ci * b.h + h) * b.w + w];
      }
    }
}

namespace {
// The output channels [first, first + count) of `outputs` as slices of their own.
std::vector<OutputSlice> output_range(const std::vector<OutputSlice>& outputs, std::int64_t first, std::int64_t count,
                                      std::int64_t plane) {
  std::vector<OutputSlice> out;
  for (const OutputSlice& o : outputs) {
    if (count == 0) break;
    if (first >= o.channels) {
      first -= o.channels;
      continue;
    }
    const std::int64_t take = std::min(count, o.channels - first);
    out.push_back({take, o.base + first * plane, o.image_stride});
    count -= take, first = 0;
  }
  return out;
}
}  // namespace

void direct_blocked_forward(const FusedConv& layer, const float* x, int threads) {
  const Shape& s = layer.shape;
  const std::int64_t V = kernel_here()->v, Cg = s.c_per_group(), Kg = s.k_per_group();
  // Groups whose channels and filters fill whole blocks run in one pass (each filter block
  // reads its group's channel blocks); other groupings one group after another.
  const bool whole_blocks = s.groups == 1 || (Kg % V == 0 && Cg % std::min(Cg, V) == 0);
  if (!whole_blocks) {  // each group is a convolution of its own channels
    const std::int64_t plane = s.p() * s.q();
    for (std::int64_t g = 0; g < s.groups; ++g) {
      FusedConv part = layer;
      part.shape.c = Cg, part.shape.k = Kg, part.shape.groups = 1;
      part.weight = layer.weight + g * Kg * Cg * s.r * s.s;
      if (layer.scale != nullptr) part.scale = layer.scale + g * Kg;
      if (layer.shift != nullptr) part.shift = layer.shift + g * Kg;
      if (layer.residual != nullptr) part.residual = layer.residual + g * Kg * plane;
      part.outputs = output_range(layer.outputs, g * Kg, Kg, plane);
      part.input_image_stride = layer.input_image_stride > 0 ? layer.input_image_stride : s.c * s.h * s.w;
      direct_blocked_forward(part, x + g * Cg * s.h * s.w, threads);
    }
    return;
  }
  const Kernel& kernel = *kernel_here();
  const std::int64_t P = s.p(), Q = s.q(), PQ = P * Q;
  // c_blocks: the channel blocks one filter reads (its group's); all_blocks: the image's.
  const std::int64_t cb = std::min<std::int64_t>(Cg, V), c_blocks = (Cg + cb - 1) / cb, k_blocks = (s.k + V - 1) / V;
  const std::int64_t all_blocks = s.groups * c_blocks;
  const std::int64_t hp = (P - 1) * s.stride_h + s.r, wp = (Q - 1) * s.stride_w + s.s;
  const Layout l{cb, c_blocks, hp, wp, s.r, s.s, s.stride_h, s.stride_w, V, c_blocks * s.r * s.s * cb * V, s.pad_h, s.h,
                 s.pad_w, s.w};
  const std::int64_t blocks_per_group = Kg / V;  // filter blocks per group (groups > 1)

  // Input: N x C/cb x Hp x Wp x cb, zero where the padding (or a missing channel) is. The
  // caller's scratch, reused from call to call (taken by pointer: inside the parallel regions
  // a thread_local name would be each thread's own).
  const std::int64_t image = all_blocks * hp * wp * cb;
  thread_local std::vector<float> xb_scratch, wb_scratch;
  xb_scratch.resize(std::size_t(s.n * image));
  float* const xb = xb_scratch.data();
  to_blocked({.images = s.n, .channels = s.c, .h = s.h, .w = s.w, .cb = cb, .hp = hp, .wp = wp, .pad_h = s.pad_h,
              .pad_w = s.pad_w, .image_stride = layer.input_image_stride},
             x, xb, threads);
  // Weights: K/V x C/cb x R x S x cb x V, zero for the filters and channels past K and C.
  // Written in their own order (one filter block per thread at a time): with small batches
  // this repacking is a fair part of the call.
  wb_scratch.resize(std::size_t(k_blocks * l.weight_block));
  float* const wb = wb_scratch.data();
  const std::int64_t RS = s.r * s.s;
#pragma omp parallel for schedule(static) num_threads(threads)
  for (std::int64_t kb = 0; kb < k_blocks; ++kb) {
    float* dst = wb + kb * l.weight_block;
    for (std::int64_t cblock = 0; cblock < c_blocks; ++cblock)
      for (std::int64_t tap = 0; tap < RS; ++tap)
        for (std::int64_t ci = 0; ci < cb; ++ci, dst += V) {
          const std::int64_t c = cblock * cb + ci;  // the channel within the filter's group
          for (std::int64_t v = 0; v < V; ++v) {
            const std::int64_t k = kb * V + v;
            dst[v] = k < s.k && c < Cg ? layer.weight[(k * Cg + c) * RS + tap] : 0.0f;
          }
        }
  }

  // Where each output channel goes: its plane in image 0 and the step from image to image.
  std::vector<float*> plane0(std::size_t(s.k));
  std::vector<std::int64_t> image_step(std::size_t(s.k));
  for (std::int64_t k = 0; k < s.k; ++k) {
    plane0[std::size_t(k)] = channel_plane(layer, 0, k);
    image_step[std::size_t(k)] = channel_plane(layer, 1, k) - plane0[std::size_t(k)];
  }

  // Work: (image, pair of output blocks, output row); each writes its own rows of the output.
  // A pair's two blocks must read the same channels: with groups, pairs only within a group.
  const std::int64_t pair_size = s.groups == 1 || blocks_per_group % 2 == 0 ? 2 : 1;
  const bool dense = s.stride_w == 1 && cb == V;
  const std::int64_t pairs = (k_blocks + pair_size - 1) / pair_size;
  // A plain store into planes spaced evenly from filter to filter (one output slice) goes
  // straight from the transpose to the output: the epilogue's copy of each row was 5% of a
  // 7x1 layer's call. A bias (the only term of a training layer's epilogue) is where the
  // tile's sums start.
  const bool plain = layer.scale == nullptr && layer.residual == nullptr && !layer.relu && layer.outputs.size() == 1 &&
                     V == 16 && avx512_transposes();
  const std::int64_t plane_step = plain ? plane0[std::min<std::size_t>(1, plane0.size() - 1)] - plane0[0] : 0;
#pragma omp parallel for collapse(3) schedule(static) num_threads(threads)
  for (std::int64_t n = 0; n < s.n; ++n)
    for (std::int64_t pair = 0; pair < pairs; ++pair)
      for (std::int64_t p = 0; p < P; ++p) {
        const std::int64_t kb0 = pair_size * pair, kb = std::min<std::int64_t>(pair_size, k_blocks - kb0);
        const std::int64_t first_block = s.groups == 1 ? 0 : kb0 / blocks_per_group * c_blocks;  // its group's
        const int qt_max = kernel.qt_max[kb - 1];
        alignas(64) float out[2 * 28 * 16];
        float* out_rows[2 * 16];  // output row p of filter kb0 * V + i, in image n
        for (std::int64_t k = kb0 * V; k < std::min(s.k, (kb0 + kb) * V); ++k)
          out_rows[k - kb0 * V] = plane0[std::size_t(k)] + n * image_step[std::size_t(k)] + p * Q;
        // Where the sums start: filter kb0 * V + i's bias where the store is plain, else zero.
        alignas(64) float start[2 * 16] = {};
        if (plain && layer.shift != nullptr)
          for (std::int64_t k = kb0 * V; k < std::min(s.k, (kb0 + kb) * V); ++k) start[k - kb0 * V] = layer.shift[k];
        const gemm::packed::Epilogue e{
            .row_scale = layer.scale != nullptr ? layer.scale + kb0 * V : nullptr,
            .row_shift = layer.shift != nullptr ? layer.shift + kb0 * V : nullptr,
            .residual = layer.residual != nullptr
                            ? layer.residual + n * layer.residual_image_stride + kb0 * V * PQ + p * Q
                            : nullptr,
            .ld_residual = PQ,
            .relu = layer.relu,
            .out_rows = out_rows};
        for (std::int64_t q0 = 0; q0 < Q; q0 += qt_max) {
          const std::int64_t qt = std::min<std::int64_t>(qt_max, Q - q0);
          const TileFn run = (dense ? kernel.dense : kernel.tiles)[kb - 1][qt - 1];
          run(l, xb + n * image + first_block * hp * wp * cb, wb + kb0 * l.weight_block, start, p, q0, out);
          if (plain) {  // out[b][j][v] -> filter (kb0 + b) * V + v's row, pixels q0 + j
            for (std::int64_t b = 0; b < kb; ++b) {
              const std::int64_t filters = std::min<std::int64_t>(V, s.k - (kb0 + b) * V);
              for (std::int64_t j0 = 0; j0 < qt; j0 += 16)
                cpu_simd::transpose_16x16_avx512(out + (b * qt + j0) * V, V, int(std::min<std::int64_t>(16, qt - j0)),
                                                 int(filters), out_rows[b * V] + q0 + j0, plane_step);
            }
            continue;
          }
          // out[b][j][v]: filter (kb0 + b) * V + v at pixel (p, q0 + j); transposed to
          // sums[k][j], one filter's row of pixels, for the epilogue and the NCHW store.
          alignas(64) float sums[2 * 16][32];
          for (std::int64_t b = 0; b < kb; ++b)
            if (V == 16 && avx512_transposes()) {
              for (std::int64_t j0 = 0; j0 < qt; j0 += 16)
                cpu_simd::transpose_16x16_avx512(out + (b * qt + j0) * V, V, int(std::min<std::int64_t>(16, qt - j0)), 16,
                                                 &sums[b * V][j0], 32);
            } else {
              for (std::int64_t j = 0; j < qt; ++j)
                for (std::int64_t v = 0; v < V; ++v) sums[b * V + v][j] = out[(b * qt + j) * V + v];
            }
          // The GEMM's epilogue on the tile's rows (filters kb0 * V + i), each to its plane.
          gemm::packed::apply_epilogue(e, 0, q0, std::min(s.k, (kb0 + kb) * V) - kb0 * V, qt, &sums[0][0], 32);
        }
      }
}

const char* direct_blocked_backward_data_unsupported(const Shape& s) {
  if (const char* why = direct_blocked_unsupported(s)) return why;
  if (s.stride_h != 1 || s.stride_w != 1) return "stride 1 only for the input gradient";
  if (s.pad_h > s.r - 1 || s.pad_w > s.s - 1) return "padding of at most the filter size - 1 for the input gradient";
  return nullptr;
}

// With stride 1 the input gradient is itself a convolution: dX = dY (*) W', where W' swaps
// each filter's input and output channels and turns it by 180 degrees,
// W'[c][k][r][s] = W[k][c][R-1-r][S-1-s], with padding R-1-pad. The same kernel runs it; no
// col2im scatter.
void direct_blocked_backward_data(const Operands& op, int threads) {
  const Shape& s = op.shape;
  Shape t = s;
  t.c = s.k, t.k = s.c, t.h = s.p(), t.w = s.q(), t.pad_h = s.r - 1 - s.pad_h, t.pad_w = s.s - 1 - s.pad_w;
  // Per group g: filter c of the transposed layer is input channel c of the group, its
  // channels the group's filters k.
  const std::int64_t Cg = s.c_per_group(), Kg = s.k_per_group(), RS = s.r * s.s;
  // Written in its own order, filter by filter on all threads (one thread's scattered writes
  // were 2% of a 7x1 layer's call).
  thread_local std::vector<float> flipped;
  flipped.resize(std::size_t(s.k * Cg * RS));
  float* const out = flipped.data();
#pragma omp parallel for collapse(2) schedule(static) num_threads(threads)
  for (std::int64_t g = 0; g < s.groups; ++g)
    for (std::int64_t c = 0; c < Cg; ++c)
      for (std::int64_t k = 0; k < Kg; ++k)
        for (std::int64_t tap = 0; tap < RS; ++tap)  // (r, x) flipped: tap RS - 1 - tap of the filter
          out[((g * Cg + c) * Kg + k) * RS + tap] = op.w[((g * Kg + k) * Cg + c) * RS + (RS - 1 - tap)];
  direct_blocked_forward(FusedConv{.shape = t, .weight = flipped.data(), .outputs = {{s.c, op.x, s.c * s.h * s.w}}},
                         op.y, threads);
}

namespace {
void direct_blocked_ladder(const Operands& op, const RunContext& ctx) {
  const Shape& s = op.shape;
  direct_blocked_forward(
      FusedConv{.shape = s, .weight = op.w, .outputs = {{s.k, op.y, s.k * s.p() * s.q()}}}, op.x, ctx.threads);
}
// Strided layers' input gradient is not a plain convolution: step 5 computes it.
void direct_blocked_ladder_backward_data(const Operands& op, const RunContext& ctx) {
  if (direct_blocked_backward_data_unsupported(op.shape) != nullptr) return kCpuBatched.backward_data(op, ctx);
  direct_blocked_backward_data(op, ctx.threads);
}
}  // namespace

}  // namespace flopslab::conv::cpu

namespace flopslab::conv {
extern const ConvVariant kCpuDirectBlocked{
    .name = "direct-blocked",
    .step = 6,
    .multithreaded = true,
    .idea = "step 1 on a channel-blocked layout (NCHW16c/8c): one weight vector times a broadcast pixel, no im2col",
    .forward = cpu::direct_blocked_ladder,
    .backward_data = cpu::direct_blocked_ladder_backward_data,
    .unsupported = cpu::direct_blocked_unsupported,
    .detail = cpu::direct_blocked_detail,
};
}  // namespace flopslab::conv
