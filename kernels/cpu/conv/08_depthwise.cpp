// Step 8: depthwise convolution (groups = C, MobileNet's layer), where the GEMM rungs have
// nothing to multiply: each filter sees one input channel, so a 3x3 depthwise layer does 9
// multiply-adds per output and is bound by memory, not arithmetic. What matters is touching
// each byte once and using whole vectors:
//   - each input plane is copied once into a zero-padded plane (a thread's own, L1/L2-sized,
//     whose zeros are written once), so the tap loops need no bounds checks;
//   - each output row is summed tap by tap while it sits in L1, its inner loop along the row
//     with unit stride (stride-1 layers), compiled for AVX-512 and AVX2 as well as the
//     baseline (kernels/cpu/multiversion.h; on aarch64 NEON and SVE, and register tiles at
//     fixed SVE lengths, register_tiles.h), so the vectors are the machine's widest;
//   - with the plane in L1, a 3x3 layer is bound by L1's loads, not by memory: a load per FMA.
//     With 32 vector registers each input row is loaded once per shift and added into the
//     three output rows it reaches (register_tiles.h's rolling kernels), 3 loads per 9 FMAs:
//     the forward pass 0.27 -> 0.13 ms on 8 x 128 x 28 x 28 (2 threads, Zen 4).
// Threads take (image, filter) planes. The input gradient (stride 1) is the same kernel on dY
// with the filters turned; the weight gradient is one dot product per tap and plane (a 3x3's
// nine at once), threads over filters, each summing its images in order. A filter multiplier
// K/C > 1 is allowed.
#include <algorithm>
#include <cstring>
#include <vector>

#include <omp.h>

#include "kernels/cpu/multiversion.h"
#include "kernels/cpu/conv/conv_cpu.h"
#include "kernels/cpu/conv/fused.h"
#include "kernels/cpu/conv/register_tiles.h"
#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/isa_targets.h"
#include "kernels/registry.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace flopslab::conv {
extern const ConvVariant kCpuBatched;
}

namespace flopslab::conv::cpu {
namespace {

// One output plane from its padded input plane: each row summed tap by tap while it is in L1.
// One function per plane (not per row), so the per-level dispatch and the loop set-up are paid
// once per plane.
using Plane = DepthwisePlane;
Plane plane_of(const Shape& s) {
  const std::int64_t Q = s.q(), qv = (Q + 15) / 16 * 16;
  return {s.p(), Q, qv, (qv - 1) * s.stride_w + s.extent_w(), s.r, s.s, s.stride_h, s.stride_w, s.dilation_h,
          s.dilation_w};
}
std::int64_t padded_rows(const Shape& s) { return (s.p() - 1) * s.stride_h + s.extent_h(); }

// Stride 1: up to 4 vectors of an output row stay in registers while the taps add into them.
FLOPSLAB_TARGET_AVX512_FMA void rows_avx512(const Plane& l, const float* padded, const float* w, float* y) {
  depthwise_rows<16>(l, padded, w, y);
}
FLOPSLAB_TARGET_AVX2_FMA void rows_avx2(const Plane& l, const float* padded, const float* w, float* y) {
  depthwise_rows<8>(l, padded, w, y);
}
// The stride-1 row kernel here: AVX-512, SVE at 256 or 512 bits, AVX2 or NEON pairs.
DepthwiseRowsFn rows_here() {
  static const DepthwiseRowsFn rows = [] {
    if (cpu_features().can_avx512()) return &rows_avx512;
    if (const DepthwiseRowsFn sve = depthwise_rows_sve()) return sve;
    return cpu_features().can_vec8_fma() ? &rows_avx2 : DepthwiseRowsFn{};
  }();
  return rows;
}

FLOPSLAB_MULTIVERSION(void, depthwise_plane_loops,
                      (const Plane& l, const float* __restrict padded, const float* __restrict w, float* __restrict y),
                      (l, padded, w, y)) {
  alignas(64) float row[1024];
  for (std::int64_t p = 0; p < l.P; ++p) {
    for (std::int64_t q0 = 0; q0 < l.qv; q0 += 1024) {
      const std::int64_t width = std::min<std::int64_t>(1024, l.qv - q0);  // a multiple of 16
      for (std::int64_t q = 0; q < width; ++q) row[q] = 0.0f;
      for (std::int64_t r = 0; r < l.r; ++r)
        for (std::int64_t t = 0; t < l.s; ++t) {
          const float* __restrict x_row =
              padded + (p * l.stride_h + r * l.dilation_h) * l.wp + t * l.dilation_w + q0 * l.stride_w;
          const float tap = w[r * l.s + t];
          if (l.stride_w == 1)
            for (std::int64_t q = 0; q < width; ++q) row[q] += tap * x_row[q];
          else
            for (std::int64_t q = 0; q < width; ++q) row[q] += tap * x_row[q * l.stride_w];
        }
      std::copy_n(row, std::min(width, l.Q - q0), y + p * l.Q + q0);
    }
  }
}

// qv is a multiple of 16, and the padded plane is wide enough for every vector of a row:
// rows_here's vectors end at column Q (or at 16 for a narrower row), the loops' at qv.
void depthwise_plane(const Plane& l, const float* padded, const float* w, float* y) {
  if (l.stride_h == 1 && l.stride_w == 1 && rows_here() != nullptr) return rows_here()(l, padded, w, y);
  depthwise_plane_loops(l, padded, w, y);
}

// dW[r][t] of one filter from one image: sum over the plane of dY times the shifted input.
FLOPSLAB_MULTIVERSION(void, depthwise_plane_weight_grad,
                      (const Plane& l, const float* __restrict padded, const float* __restrict dy, double* __restrict dw),
                      (l, padded, dy, dw)) {
  for (std::int64_t r = 0; r < l.r; ++r)
    for (std::int64_t t = 0; t < l.s; ++t) {
      float lanes[16] = {};  // float partial sums the compiler keeps in vectors; added in double
      for (std::int64_t p = 0; p < l.P; ++p) {
        const float* __restrict x_row = padded + (p * l.stride_h + r * l.dilation_h) * l.wp + t * l.dilation_w;
        const float* __restrict dy_row = dy + p * l.qv;  // dY padded to qv columns with zeros
        if (l.stride_w == 1)
          for (std::int64_t q = 0; q < l.qv; q += 16)
            for (int i = 0; i < 16; ++i) lanes[i] += dy_row[q + i] * x_row[q + i];
        else
          for (std::int64_t q = 0; q < l.Q; ++q) lanes[0] += dy_row[q] * x_row[q * l.stride_w];
      }
      double sum = 0;
      for (float v : lanes) sum += double(v);
      dw[r * l.s + t] += sum;
    }
}

// A 3x3 filter's 9 taps at once, stride 1, rows of at least one vector (register_tiles.h's
// weight_grad_taps_plane with one filter): each dY vector is loaded once for all 9 taps and
// dY is read in place. The loop above chains each tap's sum through one accumulator, so it
// waits on the FMA's latency; these 9 sums are independent (0.6 -> 0.2 ms on a 128-channel
// 28x28 layer, 2 threads). An undilated 3x3 also loads each input row once for its three dY
// rows (depthwise_weight_grad_3x3): 0.21 -> 0.16 ms there.
using TapsFn = void (*)(const WeightGradRows&, const float* x, const float* dy, float* out);
bool undilated_3x3(const WeightGradRows& d) { return d.r == 3 && d.s == 3 && d.dilation_h == 1 && d.dilation_w == 1; }
FLOPSLAB_TARGET_AVX512_FMA void taps_avx512(const WeightGradRows& d, const float* x, const float* dy, float* out) {
  if (undilated_3x3(d)) return depthwise_weight_grad_3x3<16>(d, x, dy, out);
  weight_grad_taps_plane<16, 1, 9>(d, x, dy, out, 1);
}
FLOPSLAB_TARGET_AVX2_FMA void taps_avx2(const WeightGradRows& d, const float* x, const float* dy, float* out) {
  if (undilated_3x3(d)) return depthwise_weight_grad_3x3<8>(d, x, dy, out);  // 9 + 5 of 16 registers
  weight_grad_taps_plane<8, 1, 9>(d, x, dy, out, 1);                           // 9 + 3 of 16 registers
}
struct TapsKernel {
  TapsFn fn;
  std::int64_t v;
};
TapsKernel taps_here() {
  if (cpu_features().can_avx512()) return {taps_avx512, 16};
  if (cpu_features().can_vec8_fma()) return {taps_avx2, 8};  // NEON as register pairs
  return {nullptr, 0};
}

// Where x's rows land in a padded plane (hp x wp): rows [top, bottom) and columns
// [left, right) receive input; every other position stays zero.
struct PadWindow {
  std::int64_t top, bottom, left, right, w0, h0;
};
PadWindow pad_window(const Shape& s, std::int64_t hp, std::int64_t wp) {
  const std::int64_t w0 = std::max<std::int64_t>(0, -s.pad_w), w1 = std::max(w0, std::min(s.w, wp - s.pad_w));
  const std::int64_t h0 = std::max<std::int64_t>(0, -s.pad_h), h1 = std::max(h0, std::min(s.h, hp - s.pad_h));
  return {h0 + s.pad_h, h1 + s.pad_h, w0 + s.pad_w, w1 + s.pad_w, w0, h0};
}

// `rows` rows of `width` floats from `in` (row stride in_stride) to `out` (row stride
// out_stride). The loop is kept a loop (GCC's memmove call per 28-float row took a fifth of a
// depthwise layer's time); with AVX-512 a row is whole vectors and one masked vector.
__attribute__((optimize("no-tree-loop-distribute-patterns"))) void copy_rows_loop(
    const float* in, std::int64_t in_stride, std::int64_t rows, std::int64_t width, float* out,
    std::int64_t out_stride) {
  for (std::int64_t row = 0; row < rows; ++row)
    for (std::int64_t j = 0; j < width; ++j) out[row * out_stride + j] = in[row * in_stride + j];
}
#if defined(__x86_64__)
__attribute__((target("avx512f"))) void copy_rows_avx512(const float* in, std::int64_t in_stride, std::int64_t rows,
                                                         std::int64_t width, float* out, std::int64_t out_stride) {
  const std::int64_t whole = width / 16 * 16;
  const __mmask16 tail = __mmask16((1u << (width - whole)) - 1u);
  for (std::int64_t row = 0; row < rows; ++row) {
    const float* i = in + row * in_stride;
    float* o = out + row * out_stride;
    for (std::int64_t j = 0; j < whole; j += 16) _mm512_storeu_ps(o + j, _mm512_loadu_ps(i + j));
    if (tail != 0) _mm512_mask_storeu_ps(o + whole, tail, _mm512_maskz_loadu_ps(tail, i + whole));
  }
}
#endif

// A thread's zero-padded copy of one (image, channel) plane of x at a time. The zeros depend
// only on the shape, so they are written once, when the buffer is made; each plane then
// copies only its input rows (the copy was a quarter of a depthwise pass while it rewrote the
// zeros too, 4 floats at a time).
class PaddedPlane {
 public:
  PaddedPlane(const Shape& s, std::int64_t hp, std::int64_t wp)
      : w_(s.w), wp_(wp), window_(pad_window(s, hp, wp)), data_(std::size_t(hp * wp), 0.0f) {}
  void load(const float* x_plane) {
    const float* in = x_plane + window_.h0 * w_ + window_.w0;
    float* out = data_.data() + window_.top * wp_ + window_.left;
    const std::int64_t rows = window_.bottom - window_.top, width = window_.right - window_.left;
#if defined(__x86_64__)
    if (cpu_features().can_avx512()) return copy_rows_avx512(in, w_, rows, width, out, wp_);
#endif
    copy_rows_loop(in, w_, rows, width, out, wp_);
  }
  const float* data() const { return data_.data(); }

 private:
  std::int64_t w_, wp_;  // x's row and the padded row, in floats
  PadWindow window_;
  std::vector<float> data_;
};

}  // namespace

const char* depthwise_unsupported(const Shape& s) {
  if (s.c_per_group() != 1) return "depthwise layers only (one input channel per group)";
  return nullptr;
}

namespace {
// Threads take (image, filter) planes of x (image n at x + n * x_image); out_plane(n, k) says
// where output plane (n, k) goes, and finish(n, k, plane) runs on it while it is in cache.
template <class OutPlane, class Finish>
void depthwise_planes(const Shape& s, const float* x, std::int64_t x_image, const float* w, int threads,
                      const OutPlane& out_plane, const Finish& finish) {
  const std::int64_t Kg = s.k_per_group();
  // The padded plane holds every input position a tap reads (and the columns up to qv).
  const Plane l = plane_of(s);
  const std::int64_t hp = padded_rows(s), wp = l.wp;
#pragma omp parallel num_threads(threads)
  {
    PaddedPlane padded(s, hp, wp);
    std::int64_t loaded = -1;  // the (image, channel) plane in `padded`
#pragma omp for collapse(2) schedule(static)
    for (std::int64_t n = 0; n < s.n; ++n)
      for (std::int64_t k = 0; k < s.k; ++k) {
        const std::int64_t c = k / Kg;
        if (loaded != n * s.c + c) {  // consecutive filters of one channel share its plane
          padded.load(x + n * x_image + c * s.h * s.w);
          loaded = n * s.c + c;
        }
        float* y = out_plane(n, k);
        depthwise_plane(l, padded.data(), w + k * s.r * s.s, y);
        finish(n, k, y);
      }
  }
}
}  // namespace

void depthwise_forward(const Operands& op, const RunContext& ctx) {
  const Shape& s = op.shape;
  const std::int64_t PQ = s.p() * s.q();
  depthwise_planes(
      s, op.x, s.c * s.h * s.w, op.w, ctx.threads, [&](std::int64_t n, std::int64_t k) { return op.y + (n * s.k + k) * PQ; },
      [](std::int64_t, std::int64_t, float*) {});
}

// The fused forward (fused.h): each plane goes where the layer's output slices say, and the
// epilogue (scale, shift, residual, ReLU) runs on it as a GEMM's does on a tile: one row of
// P*Q columns, the filter its row index.
void depthwise_fused_forward(const FusedConv& layer, const float* x, int threads) {
  const Shape& s = layer.shape;
  const std::int64_t PQ = s.p() * s.q();
  const bool epilogue = layer.scale != nullptr || layer.shift != nullptr || layer.residual != nullptr || layer.relu;
  depthwise_planes(
      s, x, layer.input_image_stride > 0 ? layer.input_image_stride : s.c * s.h * s.w, layer.weight, threads,
      [&](std::int64_t n, std::int64_t k) { return channel_plane(layer, n, k); },
      [&](std::int64_t n, std::int64_t k, float* y) {
        if (!epilogue) return;
        const gemm::packed::Epilogue e{
            .row_scale = layer.scale,
            .row_shift = layer.shift,
            .residual = layer.residual != nullptr ? layer.residual + n * layer.residual_image_stride : nullptr,
            .ld_residual = PQ,
            .relu = layer.relu};
        gemm::packed::apply_epilogue(e, k, 0, 1, PQ, y, PQ);
      });
}

// With stride 1 and one filter per channel, dX is the depthwise convolution of dY with each
// filter turned by 180 degrees, padding R-1-pad.
const char* depthwise_backward_data_unsupported(const Shape& s) {
  if (const char* why = depthwise_unsupported(s)) return why;
  if (s.k != s.c) return "one filter per channel for the input gradient";
  if (s.stride_h != 1 || s.stride_w != 1 || s.dilation_h != 1 || s.dilation_w != 1)
    return "stride 1 and no dilation for the input gradient";
  if (s.pad_h > s.r - 1 || s.pad_w > s.s - 1) return "padding of at most the filter size - 1 for the input gradient";
  return nullptr;
}

void depthwise_backward_data(const Operands& op, const RunContext& ctx) {
  const Shape& s = op.shape;
  Shape t = s;
  t.h = s.p(), t.w = s.q(), t.pad_h = s.r - 1 - s.pad_h, t.pad_w = s.s - 1 - s.pad_w;
  std::vector<float> flipped(std::size_t(s.k * s.r * s.s));
  for (std::int64_t k = 0; k < s.k; ++k)
    for (std::int64_t i = 0; i < s.r * s.s; ++i) flipped[std::size_t(k * s.r * s.s + s.r * s.s - 1 - i)] = op.w[k * s.r * s.s + i];
  depthwise_forward({t, op.y, flipped.data(), op.x}, ctx);
}

bool depthwise_weight_grad_rolls(const Shape& s) {
  return taps_here().fn != nullptr && s.r == 3 && s.s == 3 && s.stride_h == 1 && s.stride_w == 1 &&
         s.dilation_h == 1 && s.dilation_w == 1 && s.q() >= taps_here().v && depthwise_unsupported(s) == nullptr;
}

// Threads take contiguous ranges of filters; each sums its filters' gradients over the images
// in order. Images are the outer loop, so filters of one channel (a multiplier K/C > 1, such as
// a first layer's 16 filters on one channel) share each padded copy of it: 0.143-0.153 ->
// 0.120-0.123 ms on 64 x 1 x 28 x 28 into 16 filters (2 threads), where the copy was made per
// filter.
void depthwise_backward_weights(const Operands& op, const RunContext& ctx) {
  const Shape& s = op.shape;
  const std::int64_t P = s.p(), Q = s.q(), Kg = s.k_per_group(), taps_per_filter = s.r * s.s;
  const Plane l = plane_of(s);
  const std::int64_t hp = padded_rows(s), wp = l.wp;
  const TapsKernel taps = taps_here();
  const bool all_taps = taps.fn != nullptr && taps_per_filter == 9 && s.stride_h == 1 && s.stride_w == 1 && Q >= taps.v;
  WeightGradRows plane{};  // what weight_grad_taps_plane reads of one padded x plane and dY plane
  plane.P = P, plane.r = s.r, plane.s = s.s, plane.dilation_h = s.dilation_h, plane.dilation_w = s.dilation_w;
  plane.wp = wp, plane.q = Q, plane.dy_row = Q;
  const int threads = int(std::clamp<std::int64_t>(ctx.threads, 1, s.k));
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num(), team = omp_get_num_threads();
    const std::int64_t k0 = s.k * t / team, k1 = s.k * (t + 1) / team;
    PaddedPlane padded(s, hp, wp);
    std::vector<float> dy(std::size_t(P * l.qv), 0.0f);
    std::vector<double> dw(std::size_t((k1 - k0) * taps_per_filter), 0.0);  // this thread's filters
    for (std::int64_t n = 0; n < s.n; ++n) {
      std::int64_t loaded = -1;  // the channel in `padded`
      for (std::int64_t k = k0; k < k1; ++k) {
        if (loaded != k / Kg) padded.load(op.x + (n * s.c + k / Kg) * s.h * s.w), loaded = k / Kg;
        const float* dy_plane = op.y + (n * s.k + k) * P * Q;
        double* dw_k = dw.data() + (k - k0) * taps_per_filter;
        if (all_taps) {
          float sums[9] = {};
          taps.fn(plane, padded.data(), dy_plane, sums);
          for (int i = 0; i < 9; ++i) dw_k[i] += double(sums[i]);
          continue;
        }
        for (std::int64_t p = 0; p < P; ++p) std::copy_n(dy_plane + p * Q, Q, dy.data() + p * l.qv);
        depthwise_plane_weight_grad(l, padded.data(), dy.data(), dw_k);
      }
    }
    for (std::int64_t i = 0; i < (k1 - k0) * taps_per_filter; ++i)
      op.w[k0 * taps_per_filter + i] = float(dw[std::size_t(i)]);
  }
}

namespace {
// Layers the flipped form does not cover (strided, dilated, multiplier > 1) go to step 5.
void depthwise_ladder_backward_data(const Operands& op, const RunContext& ctx) {
  if (depthwise_backward_data_unsupported(op.shape) != nullptr) return kCpuBatched.backward_data(op, ctx);
  depthwise_backward_data(op, ctx);
}
}  // namespace

}  // namespace flopslab::conv::cpu

namespace flopslab::conv {
extern const ConvVariant kCpuDepthwise{
    .name = "depthwise",
    .step = 8,
    .multithreaded = true,
    .idea = "groups = C: a padded copy of each plane, each output row summed tap by tap in L1, widest vectors",
    .forward = cpu::depthwise_forward,
    .backward_data = cpu::depthwise_ladder_backward_data,
    .backward_weights = cpu::depthwise_backward_weights,
    .unsupported = cpu::depthwise_unsupported,
};
}  // namespace flopslab::conv
