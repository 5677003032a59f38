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
// Threads take (image, input channel) pairs, each into its own copy of dW; the copies are
// added in thread order at the end: no atomics, and the same sums on every run with the same
// thread count. Both padded copies are made once per call and counted in the time.
// Backward-weights only; stride 1 and groups of 1.
#include <algorithm>
#include <array>
#include <cstring>
#include <utility>
#include <vector>

#include <omp.h>

#include "kernels/cpu/conv/conv_cpu.h"
#include "kernels/cpu/conv/direct_blocked.h"
#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/isa_targets.h"
#include "kernels/cpu/simd_vec.h"
#include "kernels/registry.h"

namespace flopslab::conv::cpu {
namespace {

// The padded copies of one call: x as C x Hp x Wp per image, dY as Kp x P x Qv per image.
struct Padded {
  std::int64_t hp, wp, qv, kp;  // rows and columns of x; dY's row length and filter count
  const float* x;
  const float* dy;
};

// Adds to dw_t (taps x Kp floats, tap-major: dw_t[tap * Kp + k]) the contributions of image n
// and input channel c over columns [q0, q0 + QV * V) for filters [k0, k0 + KT).
template <int V, int KT, int QV>
[[gnu::always_inline]] inline void tap_block(const Shape& s, const Padded& d, std::int64_t n, std::int64_t c,
                                             std::int64_t k0, std::int64_t q0, float* dw_t) {
  using Vec = cpu_simd::Vec<V>;
  const std::int64_t P = s.p();
  const float* x_image = d.x + (n * s.c + c) * d.hp * d.wp;
  const float* dy_image = d.dy + (n * d.kp + k0) * P * d.qv + q0;
  for (std::int64_t r = 0; r < s.r; ++r)
    for (std::int64_t t = 0; t < s.s; ++t) {
      Vec acc[KT][QV] = {};
      const float* x_row = x_image + r * s.dilation_h * d.wp + t * s.dilation_w + q0;
      for (std::int64_t p = 0; p < P; ++p) {
        Vec xv[QV];
        for (int i = 0; i < QV; ++i) xv[i] = cpu_simd::load<V>(x_row + p * d.wp + i * V);
#pragma GCC unroll 6
        for (int kk = 0; kk < KT; ++kk)
#pragma GCC unroll 4
          for (int i = 0; i < QV; ++i) acc[kk][i] += cpu_simd::load<V>(dy_image + (kk * P + p) * d.qv + i * V) * xv[i];
      }
      float* out = dw_t + ((c * s.r + r) * s.s + t) * d.kp + k0;
      for (int kk = 0; kk < KT; ++kk) {
        Vec sum = acc[kk][0];
        for (int i = 1; i < QV; ++i) sum += acc[kk][i];
        out[kk] += cpu_simd::sum_lanes<V>(sum);
      }
    }
}

using BlockFn = void (*)(const Shape&, const Padded&, std::int64_t, std::int64_t, std::int64_t, std::int64_t, float*);

// KT filters x QV vectors of accumulators: 6 x 4 of AVX-512's 32 registers, 4 x 2 of AVX2's 16.
template <int QV>
FLOPSLAB_TARGET_AVX512_FMA void block_avx512(const Shape& s, const Padded& d, std::int64_t n,
                                                         std::int64_t c, std::int64_t k0, std::int64_t q0, float* dw_t) {
  tap_block<16, 6, QV>(s, d, n, c, k0, q0, dw_t);
}
template <int QV>
FLOPSLAB_TARGET_AVX2_FMA void block_avx2(const Shape& s, const Padded& d, std::int64_t n, std::int64_t c,
                                                   std::int64_t k0, std::int64_t q0, float* dw_t) {
  tap_block<8, 4, QV>(s, d, n, c, k0, q0, dw_t);
}

// The blocked form, for inputs of at least V channels: x as N x C/V x Hp x Wp x V and dY as
// N x K/V x P x Q x V (06's layout). For one tap (r, s), a block of V input channels and one
// of V filters, dW's V x V block lives in V registers (one per input channel, its lanes the
// filters); each output pixel adds one dY vector times V broadcast input values: V FMAs for
// V + 1 loads, all from L1 for a training layer's small planes.
template <int V>
[[gnu::always_inline]] inline void blocked_tap(const float* x, const float* dy, std::int64_t P, std::int64_t Q,
                                               std::int64_t wp, float* out /* V x V, added to */) {
  using Vec = cpu_simd::Vec<V>;
  Vec acc[V] = {};
  for (std::int64_t p = 0; p < P; ++p)
    for (std::int64_t q = 0; q < Q; ++q) {
      const Vec d = cpu_simd::load<V>(dy + (p * Q + q) * V);
      const float* xp = x + (p * wp + q) * V;
#pragma GCC unroll 16
      for (int ci = 0; ci < V; ++ci) acc[ci] += xp[ci] * d;
    }
  for (int ci = 0; ci < V; ++ci) {
    Vec o = cpu_simd::load<V>(out + ci * V) + acc[ci];
    std::memcpy(out + ci * V, &o, sizeof o);
  }
}
using BlockedFn = void (*)(const float*, const float*, std::int64_t, std::int64_t, std::int64_t, float*);
FLOPSLAB_TARGET_AVX512_FMA void blocked_tap_avx512(const float* x, const float* dy, std::int64_t P,
                                                              std::int64_t Q, std::int64_t wp, float* out) {
  blocked_tap<16>(x, dy, P, Q, wp, out);
}
FLOPSLAB_TARGET_AVX2_FMA void blocked_tap_avx2(const float* x, const float* dy, std::int64_t P,
                                                         std::int64_t Q, std::int64_t wp, float* out) {
  blocked_tap<8>(x, dy, P, Q, wp, out);
}

struct Kernel {
  int v, kt, qv_max;
  std::array<BlockFn, 4> blocks;  // [QV - 1]
  BlockedFn blocked;
};

const Kernel* kernel_here() {
  static const Kernel avx512{
      16, 6, 4, {block_avx512<1>, block_avx512<2>, block_avx512<3>, block_avx512<4>}, blocked_tap_avx512};
  static const Kernel avx2{8, 4, 2, {block_avx2<1>, block_avx2<2>, nullptr, nullptr}, blocked_tap_avx2};
  if (cpu_features().can_avx512()) return &avx512;
  if (cpu_features().can_vec8_fma()) return &avx2;  // NEON runs it as register pairs
  return nullptr;
}

}  // namespace

const char* direct_weight_grad_unsupported(const Shape& s) {
  if (kernel_here() == nullptr) return "needs AVX2 and FMA (or AVX-512)";
  if (s.groups != 1) return "groups of 1 only";
  if (s.stride_h != 1 || s.stride_w != 1) return "stride 1 only (a strided row is not one vector load)";
  return nullptr;
}

namespace {
// C >= V: the blocked form. Threads take (image, channel block, filter block) triples, each
// into its own copy of dW (V x V blocks per tap), added in thread order at the end.
void blocked_weight_grad(const Operands& op, const RunContext& ctx, const Kernel& kernel) {
  const Shape& s = op.shape;
  const std::int64_t V = kernel.v, P = s.p(), Q = s.q();
  const std::int64_t cbs = (s.c + V - 1) / V, kbs = (s.k + V - 1) / V;
  const std::int64_t hp = P + (s.r - 1) * s.dilation_h, wp = Q + (s.s - 1) * s.dilation_w;
  std::vector<float> xb(std::size_t(s.n * cbs * hp * wp * V)), dyb(std::size_t(s.n * kbs * P * Q * V));
  to_blocked({.images = s.n, .channels = s.c, .h = s.h, .w = s.w, .cb = V, .hp = hp, .wp = wp, .pad_h = s.pad_h,
              .pad_w = s.pad_w},
             op.x, xb.data(), ctx.threads);
  to_blocked({.images = s.n, .channels = s.k, .h = P, .w = Q, .cb = V, .hp = P, .wp = Q}, op.y, dyb.data(), ctx.threads);
  // dW blocks: [filter block][channel block][r][s][input channel][filter lane].
  const std::int64_t block = V * V, all = kbs * cbs * s.r * s.s * block;
  const std::int64_t items = s.n * cbs * kbs;
  const int threads = int(std::min<std::int64_t>(ctx.threads, items));
  std::vector<float> partial(std::size_t(threads * all), 0.0f);
#pragma omp parallel num_threads(threads)
  {
    float* mine = partial.data() + omp_get_thread_num() * all;
#pragma omp for schedule(static)
    for (std::int64_t item = 0; item < items; ++item) {
      const std::int64_t n = item / (cbs * kbs), cb = item / kbs % cbs, kb = item % kbs;
      const float* x = xb.data() + (n * cbs + cb) * hp * wp * V;
      const float* dy = dyb.data() + (n * kbs + kb) * P * Q * V;
      for (std::int64_t r = 0; r < s.r; ++r)
        for (std::int64_t t = 0; t < s.s; ++t)
          kernel.blocked(x + (r * s.dilation_h * wp + t * s.dilation_w) * V, dy, P, Q, wp,
                         mine + (((kb * cbs + cb) * s.r + r) * s.s + t) * block);
    }
  }
  for (int t = 1; t < threads; ++t)
    for (std::int64_t i = 0; i < all; ++i) partial[std::size_t(i)] += partial[std::size_t(t * all + i)];
  for (std::int64_t k = 0; k < s.k; ++k)
    for (std::int64_t c = 0; c < s.c; ++c)
      for (std::int64_t r = 0; r < s.r; ++r)
        for (std::int64_t t = 0; t < s.s; ++t)
          op.w[((k * s.c + c) * s.r + r) * s.s + t] =
              partial[std::size_t((((k / V * cbs + c / V) * s.r + r) * s.s + t) * block + (c % V) * V + k % V)];
}
}  // namespace

void direct_weight_grad(const Operands& op, const RunContext& ctx) {
  const Shape& s = op.shape;
  const Kernel& kernel = *kernel_here();
  if (s.c >= kernel.v) return blocked_weight_grad(op, ctx, kernel);
  const std::int64_t V = kernel.v, KT = kernel.kt, P = s.p(), Q = s.q(), taps = s.c * s.r * s.s;
  Padded d{};
  d.qv = (Q + V - 1) / V * V;
  d.kp = (s.k + KT - 1) / KT * KT;
  d.hp = P + (s.r - 1) * s.dilation_h;
  d.wp = d.qv + (s.s - 1) * s.dilation_w;
  // x, padded: input (ih, iw) at (ih + pad_h, iw + pad_w); zeros elsewhere. dY, padded to qv
  // columns and kp filters with zeros.
  std::vector<float> x_pad(std::size_t(s.n * s.c * d.hp * d.wp)), dy_pad(std::size_t(s.n * d.kp * P * d.qv), 0.0f);
  to_blocked({.images = s.n, .channels = s.c, .h = s.h, .w = s.w, .cb = 1, .hp = d.hp, .wp = d.wp, .pad_h = s.pad_h,
              .pad_w = s.pad_w},
             op.x, x_pad.data(), ctx.threads);  // one channel per block: padded NCHW planes
#pragma omp parallel for collapse(2) schedule(static) num_threads(ctx.threads)
  for (std::int64_t n = 0; n < s.n; ++n)
    for (std::int64_t k = 0; k < s.k; ++k)
      for (std::int64_t p = 0; p < P; ++p)
        std::copy_n(op.y + ((n * s.k + k) * P + p) * Q, Q, dy_pad.data() + ((n * d.kp + k) * P + p) * d.qv);
  d.x = x_pad.data(), d.dy = dy_pad.data();

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
        for (std::int64_t q0 = 0; q0 < d.qv; q0 += chunk)
          kernel.blocks[std::size_t(std::min(chunk, d.qv - q0) / V - 1)](s, d, n, c, k0, q0, mine);
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
  return k->v == 16 ? "AVX-512: C < 16 by rows (6 filters x 4 vectors of partial sums per tap), else NCHW16c (16 x 16 dW blocks in registers)"
                    : "AVX2: C < 8 by rows (4 filters x 2 vectors of partial sums per tap), else NCHW8c (8 x 8 dW blocks in registers)";
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
