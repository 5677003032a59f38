// Step 7: the weight gradient without a GEMM, for the layers where the GEMM has nothing to
// work with.
//
// dW[k][c][r][s] = sum over images n and output pixels (p, q) of dY[n][k][p][q] * x[n][c][p + r][q + s]
// (stride 1, in padded input coordinates). Step 5 computes it as one GEMM, dW^T = col * dY^T,
// with k = N*P*Q. For a network's first layer that product is 9 taps x 16 filters: less than
// one micro-tile of output, with a 50 000-long k whose A rows must be gathered from the images.
// The GEMM ran at 12 GFLOP/s there. Here each tap (c, r, s) and block of KT filters keeps
// KT x QV vector accumulators (partial sums along q) while it walks the image's rows:
//   for each output row p:  x row p + r, shifted by s: QV vector loads;
//                           dY rows of the KT filters: KT x QV loads, KT x QV FMAs,
// and the lanes are added up once per image. Rows are padded to whole vectors (dY with
// zeros, so the extra lanes add nothing), filters to a multiple of KT (zero dY rows).
// With AVX-512 and 3x3 filters, weight_grad_taps turns it around: 2 filters x all 9 taps stay
// in registers and each dY vector is loaded once for all taps (one load per FMA above), with
// dY read in place where its rows hold at least one vector (no padded copy).
// Threads take (image, input channel) pairs, each into its own copy of dW; the copies are
// added in thread order at the end: no atomics, and the same sums on every run with the same
// thread count. Both padded copies are made once per call and counted in the time.
// Backward-weights only; stride 1; groups where the input has a channel block (C >= V).
#include <algorithm>
#include <array>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <omp.h>

#include "kernels/cpu/conv/conv_cpu.h"
#include "kernels/cpu/conv/direct_blocked.h"
#include "kernels/cpu/conv/register_tiles.h"
#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/isa_targets.h"
#include "kernels/registry.h"

namespace flopslab::conv::cpu {
namespace {

using Padded = WeightGradRows;
using Kernel = WeightGradKernel;

// KT filters x QV vectors of accumulators: 6 x 4 of AVX-512's 32 registers, 4 x 2 of AVX2's 16.
template <int QV>
FLOPSLAB_TARGET_AVX512_FMA void rows_avx512(const Padded& d, std::int64_t n, std::int64_t c, std::int64_t k0,
                                            std::int64_t q0, float* dw_t) {
  weight_grad_rows<16, 6, QV>(d, n, c, k0, q0, dw_t);
}
template <int QV>
FLOPSLAB_TARGET_AVX2_FMA void rows_avx2(const Padded& d, std::int64_t n, std::int64_t c, std::int64_t k0,
                                        std::int64_t q0, float* dw_t) {
  weight_grad_rows<8, 4, QV>(d, n, c, k0, q0, dw_t);
}

// All taps of a 3x3 filter at once: 2 filters x 9 taps = 18 of AVX-512's 32
// registers, 2 dY and 9 x loads per 18 FMAs.
FLOPSLAB_TARGET_AVX512_FMA void taps_avx512(const Padded& d, std::int64_t n, std::int64_t c, std::int64_t k0,
                                            float* dw_t) {
  weight_grad_taps<16, 2, 9>(d, n, c, k0, dw_t);
}

// The blocked form, for inputs of at least V channels: x as N x C/V x Hp x Wp x V and dY as
// N x K/V x P x Q x V (06's layout); all loads from L1 for a training layer's small planes.
FLOPSLAB_TARGET_AVX512_FMA void blocked_avx512(const WeightGradBlock& b, const float* x, const float* dy, float* out) {
  weight_grad_blocked<16>(b, x, dy, out);
}
FLOPSLAB_TARGET_AVX2_FMA void blocked_avx2(const WeightGradBlock& b, const float* x, const float* dy, float* out) {
  weight_grad_blocked<8>(b, x, dy, out);
}

const Kernel* eight_wide_kernel() {
  static const Kernel avx2{
      cpu_features().neon ? "NEON (register pairs)" : "AVX2", 8, 4, 2, {rows_avx2<1>, rows_avx2<2>, nullptr, nullptr},
      blocked_avx2};
  return cpu_features().can_vec8_fma() ? &avx2 : nullptr;  // NEON runs it as register pairs
}

const Kernel* kernel_here() {
  static const Kernel avx512{"AVX-512",      16, 6, 4, {rows_avx512<1>, rows_avx512<2>, rows_avx512<3>, rows_avx512<4>},
                             blocked_avx512, taps_avx512, 2, 9};
  if (cpu_features().can_avx512()) return &avx512;
  if (const Kernel* sve = weight_grad_kernel_sve()) return sve;  // SVE at 256 or 512 bits
  return eight_wide_kernel();
}

// The blocked kernel for `s`: the widest, unless groups of 8 channels would leave half of each
// 16 x 16 block to another group's pairs; 8 x 8 blocks then compute none of those (and on a
// core that splits a 512-bit FMA in two, as Zen 4 does, run at the same FLOP rate).
const Kernel& blocked_kernel_for(const Shape& s, const Kernel& widest) {
  const Kernel* eight = eight_wide_kernel();
  if (s.groups > 1 && widest.v > 8 && eight != nullptr && s.c_per_group() % widest.v != 0 && s.c_per_group() % 8 == 0)
    return *eight;
  return widest;
}

}  // namespace

const char* direct_weight_grad_unsupported(const Shape& s) {
  const Kernel* k = kernel_here();
  if (k == nullptr) return "needs AVX2 and FMA (or AVX-512)";
  if (s.groups != 1 && s.c < k->v) return "groups need a channel block of inputs (the blocked form)";
  if (s.stride_h != 1 || s.stride_w != 1) return "stride 1 only (a strided row is not one vector load)";
  return nullptr;
}

namespace {
// C >= V: the blocked form. Threads take (image, channel block, filter block) triples, each
// into its own copy of dW (V x V blocks per tap), added in thread order at the end.
// Groups: a channel block meets only the filter blocks holding its groups' filters, and the
// whole V x V block is computed; the pairs of a channel and another group's filter in it are
// never read. With C/groups >= V/2 at most half of it is thrown away (per-shape's threshold).
void blocked_weight_grad(const Operands& op, const RunContext& ctx, const Kernel& kernel) {
  const Shape& s = op.shape;
  const std::int64_t V = kernel.v, P = s.p(), Q = s.q(), cg = s.c_per_group(), kg = s.k_per_group();
  const std::int64_t cbs = (s.c + V - 1) / V, kbs = (s.k + V - 1) / V;
  std::vector<std::pair<std::int64_t, std::int64_t>> blocks;  // (channel block, filter block) that meet
  for (std::int64_t cb = 0; cb < cbs; ++cb) {
    const std::int64_t first_group = cb * V / cg, last_group = (std::min(s.c, cb * V + V) - 1) / cg;
    for (std::int64_t kb = first_group * kg / V; kb <= ((last_group + 1) * kg - 1) / V; ++kb) blocks.emplace_back(cb, kb);
  }
  const std::int64_t hp = P + (s.r - 1) * s.dilation_h, wp = Q + (s.s - 1) * s.dilation_w;
  // to_blocked writes every element, zeros included: scratch kept from call to call (taken by
  // pointer below; inside the parallel region a thread_local name is each thread's own).
  thread_local std::vector<float> xb_scratch, dyb_scratch;
  xb_scratch.resize(std::size_t(s.n * cbs * hp * wp * V)), dyb_scratch.resize(std::size_t(s.n * kbs * P * Q * V));
  const float* const xb = xb_scratch.data();
  const float* const dyb = dyb_scratch.data();
  to_blocked({.images = s.n, .channels = s.c, .h = s.h, .w = s.w, .cb = V, .hp = hp, .wp = wp, .pad_h = s.pad_h,
              .pad_w = s.pad_w},
             op.x, xb_scratch.data(), ctx.threads);
  to_blocked({.images = s.n, .channels = s.k, .h = P, .w = Q, .cb = V, .hp = P, .wp = Q}, op.y, dyb_scratch.data(),
             ctx.threads);
  // dW blocks: [filter block][channel block][r][s][input channel][filter lane].
  const std::int64_t block = V * V, all = kbs * cbs * s.r * s.s * block;
  const std::int64_t pairs = std::int64_t(blocks.size()), items = s.n * pairs;
  const int threads = int(std::min<std::int64_t>(ctx.threads, items));
  std::vector<float> partial(std::size_t(threads * all), 0.0f);
#pragma omp parallel num_threads(threads)
  {
    float* mine = partial.data() + omp_get_thread_num() * all;
#pragma omp for schedule(static)
    for (std::int64_t item = 0; item < items; ++item) {
      const std::int64_t n = item / pairs;
      const auto [cb, kb] = blocks[std::size_t(item % pairs)];
      const float* x = xb + (n * cbs + cb) * hp * wp * V;
      const float* dy = dyb + (n * kbs + kb) * P * Q * V;
      for (std::int64_t r = 0; r < s.r; ++r)
        for (std::int64_t t = 0; t < s.s; ++t) {
          // Output pixels whose input at this tap is padding add nothing: skipped, as oneDNN
          // skips them (a 7x7 filter on a 28 x 28 image: 12% of the multiply-adds).
          const std::int64_t row = r * s.dilation_h, col = t * s.dilation_w;
          const WeightGradBlock b{.Q = Q,
                                  .wp = wp,
                                  .p0 = std::clamp<std::int64_t>(s.pad_h - row, 0, P),
                                  .p1 = std::clamp<std::int64_t>(s.pad_h + s.h - row, 0, P),
                                  .q0 = std::clamp<std::int64_t>(s.pad_w - col, 0, Q),
                                  .q1 = std::clamp<std::int64_t>(s.pad_w + s.w - col, 0, Q)};
          kernel.blocked(b, x + (row * wp + col) * V, dy, mine + (((kb * cbs + cb) * s.r + r) * s.s + t) * block);
        }
    }
  }
  for (int t = 1; t < threads; ++t)
    for (std::int64_t i = 0; i < all; ++i) partial[std::size_t(i)] += partial[std::size_t(t * all + i)];
  for (std::int64_t k = 0; k < s.k; ++k)
    for (std::int64_t cl = 0; cl < cg; ++cl) {
      const std::int64_t c = k / kg * cg + cl;  // filter k's cl-th input channel
      for (std::int64_t r = 0; r < s.r; ++r)
        for (std::int64_t t = 0; t < s.s; ++t)
          op.w[((k * cg + cl) * s.r + r) * s.s + t] =
              partial[std::size_t((((k / V * cbs + c / V) * s.r + r) * s.s + t) * block + (c % V) * V + k % V)];
    }
}
}  // namespace

void direct_weight_grad(const Operands& op, const RunContext& ctx) {
  const Shape& s = op.shape;
  const Kernel& kernel = *kernel_here();
  if (s.c >= kernel.v) return blocked_weight_grad(op, ctx, blocked_kernel_for(s, kernel));
  const bool all_taps = kernel.taps != nullptr && s.r * s.s == kernel.taps_of;
  const std::int64_t V = kernel.v, KT = all_taps ? kernel.taps_kt : kernel.kt, P = s.p(), Q = s.q(),
                     taps = s.c * s.r * s.s;
  Padded d{};
  d.c = s.c, d.P = P, d.r = s.r, d.s = s.s, d.dilation_h = s.dilation_h, d.dilation_w = s.dilation_w;
  d.qv = (Q + V - 1) / V * V;
  d.kp = (s.k + KT - 1) / KT * KT;
  d.hp = P + (s.r - 1) * s.dilation_h;
  d.wp = d.qv + (s.s - 1) * s.dilation_w;
  // x, padded: input (ih, iw) at (ih + pad_h, iw + pad_w); zeros elsewhere. dY, padded to qv
  // columns and kp filters with zeros, except where the all-taps kernel reads it in place
  // (whole blocks of its filters): copying dY was most of such a call.
  thread_local std::vector<float> x_scratch;  // every element written by to_blocked
  x_scratch.resize(std::size_t(s.n * s.c * d.hp * d.wp));
  std::vector<float> dy_pad;
  to_blocked({.images = s.n, .channels = s.c, .h = s.h, .w = s.w, .cb = 1, .hp = d.hp, .wp = d.wp, .pad_h = s.pad_h,
              .pad_w = s.pad_w},
             op.x, x_scratch.data(), ctx.threads);  // one channel per block: padded NCHW planes
  d.x = x_scratch.data();
  if (all_taps && s.k % KT == 0 && Q >= V) {  // rows of at least one vector: read in place
    d.dy = op.y, d.q = Q, d.dy_row = Q;
  } else {
    dy_pad.assign(std::size_t(s.n * d.kp * P * d.qv), 0.0f);
#pragma omp parallel for collapse(2) schedule(static) num_threads(ctx.threads)
    for (std::int64_t n = 0; n < s.n; ++n)
      for (std::int64_t k = 0; k < s.k; ++k)
        for (std::int64_t p = 0; p < P; ++p)
          std::copy_n(op.y + ((n * s.k + k) * P + p) * Q, Q, dy_pad.data() + ((n * d.kp + k) * P + p) * d.qv);
    d.dy = dy_pad.data(), d.q = d.qv, d.dy_row = d.qv;
  }

  const int threads = int(std::min<std::int64_t>(ctx.threads, s.n * s.c));
  std::vector<float> partial(std::size_t(threads * taps * d.kp), 0.0f);
  const std::int64_t chunk = kernel.qv_max * V;
#pragma omp parallel num_threads(threads)
  {
    float* mine = partial.data() + omp_get_thread_num() * taps * d.kp;
#pragma omp for schedule(static)
    for (std::int64_t item = 0; item < s.n * s.c; ++item) {
      const std::int64_t n = item / s.c, c = item % s.c;
      for (std::int64_t k0 = 0; k0 < d.kp; k0 += KT)
        if (all_taps)
          kernel.taps(d, n, c, k0, mine);
        else
          for (std::int64_t q0 = 0; q0 < d.qv; q0 += chunk)
            kernel.rows[std::size_t(std::min(chunk, d.qv - q0) / V - 1)](d, n, c, k0, q0, mine);
    }
  }
  for (int t = 1; t < threads; ++t)
    for (std::int64_t i = 0; i < taps * d.kp; ++i) partial[std::size_t(i)] += partial[std::size_t(t * taps * d.kp + i)];
  // dW[k][tap] from the tap-major sums.
  for (std::int64_t k = 0; k < s.k; ++k)
    for (std::int64_t tap = 0; tap < taps; ++tap) op.w[k * taps + tap] = partial[std::size_t(tap * d.kp + k)];
}

namespace {
std::string direct_weight_grad_detail() {
  const Kernel* k = kernel_here();
  if (k == nullptr) return "not here: needs AVX2 and FMA";
  const std::string v = std::to_string(k->v);
  const std::string all_taps =
      k->taps == nullptr ? ""
                         : fmt::format(" (filters of {} taps: {} filters x every tap at once)", k->taps_of, k->taps_kt);
  return std::string(k->isa) + ": C < " + v + " by rows (" + std::to_string(k->kt) + " filters x " +
         std::to_string(k->qv_max) + " vectors of partial sums per tap" + all_taps + "), else NCHW" + v + "c (" + v +
         " x " + v + " dW blocks in registers" +
         (k->v > 8 && eight_wide_kernel() != nullptr ? "; 8 x 8 for groups of 8 channels" : "") + ")";
}
}  // namespace

}  // namespace flopslab::conv::cpu

namespace flopslab::conv {
extern const ConvVariant kCpuDirectWeightGrad{
    .name = "direct-dw",
    .step = 7,
    .multithreaded = true,
    .idea = "dW without a GEMM: per tap, vector partial sums along each row, threads over (image, channel)",
    .backward_weights = cpu::direct_weight_grad,
    .unsupported = cpu::direct_weight_grad_unsupported,
    .detail = cpu::direct_weight_grad_detail,
};
}  // namespace flopslab::conv
