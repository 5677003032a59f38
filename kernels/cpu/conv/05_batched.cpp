// Step 5: the implicit GEMM of step 3, arranged for a batch.
//
// Step 3 runs one image's GEMM at a time on every thread. A training layer's image is small
// (a 64-filter 3x3 layer on 56x56 is a 64 x 3136 x 576 product): split across threads, each
// one's share is thinner still and the synchronisation shows. Here:
//   forward         threads take whole images, each running the single-threaded implicit
//                   GEMM on its own (when there are fewer images than threads, every
//                   thread works on each image instead);
//   backward-data   step 2's col = W^T dY and col2im scatter (a plain 1x1's col is dx
//                   itself, the GEMM's output), with threads taking whole images, each
//                   forming and scattering col a band of output rows at a
//                   time in an L2-sized buffer of its own. (The input gradient is also a
//                   convolution of dY with the flipped filter, but that GEMM has only C rows
//                   and packs an R*S-times larger B: slower here than the scatter.);
//   backward-weights one GEMM over the whole batch per group, dW^T = col * dY^T, with k = N*P*Q:
//                   A's rows (filter taps) are read straight from the images as in step 3
//                   (a plain 1x1's A is the image itself: one GEMM per image, packed from it),
//                   B is dY transposed once (for a 1x1 with fewer inputs than filters,
//                   dW = dY * X^T, transposing the smaller x). The sum over a thread's images
//                   happens inside the GEMM's k loop, in registers; the threads' partial sums
//                   are added in a fixed order: no atomics.
#include <omp.h>

#include <algorithm>
#include <vector>

#include "kernels/cpu/conv/conv_cpu.h"
#include "kernels/registry.h"

namespace flopslab::conv::cpu {
namespace {

void forward_images(const Shape& s, const float* x, const float* w, float* y, const RunContext& ctx) {
  const std::int64_t Cg = s.c_per_group(), Kg = s.k_per_group(), PQ = s.p() * s.q(), taps = Cg * s.r * s.s;
  over_images(s.n, ctx.threads, [&](std::int64_t n, int threads) {
    for (std::int64_t g = 0; g < s.groups; ++g)
      best_gemm({Kg, PQ, taps}, w + g * Kg * taps, taps, im2col_rows(s, x + (n * s.c + g * Cg) * s.h * s.w),
                y + (n * s.k + g * Kg) * PQ, PQ, threads, ctx.inputs);
  });
}

void batched_forward(const Operands& op, const RunContext& ctx) { forward_images(op.shape, op.x, op.w, op.y, ctx); }

void batched_backward_data(const Operands& op, const RunContext& ctx) {
  const Shape& s = op.shape;
  const std::int64_t Cg = s.c_per_group(), Kg = s.k_per_group(), P = s.p(), Q = s.q(), PQ = P * Q,
                     taps = Cg * s.r * s.s;
  std::vector<float> w_t(std::size_t(s.groups * taps * Kg));  // W_g^T: taps x Kg per group
  for (std::int64_t g = 0; g < s.groups; ++g) transpose(op.w + g * Kg * taps, Kg, taps, w_t.data() + g * taps * Kg);
  // col is formed and scattered a band of output rows at a time, the band sized to half this
  // CPU's L2: a whole image's col (7 MiB for 64 channels 3x3 on 56x56) per thread went to
  // memory and back, and two threads' worth ran slower than one.
  const std::int64_t band_bytes = gemm::packed::cache_geometries().level[1].bytes / 2;
  const std::int64_t band_rows = std::clamp<std::int64_t>(band_bytes / (4 * taps * Q), 1, P);
  const int buffers = s.n >= ctx.threads ? ctx.threads : 1;
  std::vector<std::vector<float>> cols(static_cast<std::size_t>(buffers),
                                       std::vector<float>(is_plain_1x1(s) ? 0 : std::size_t(taps * band_rows * Q)));
  over_images(s.n, ctx.threads, [&](std::int64_t n, int threads) {
    std::vector<float>& col = cols[std::size_t(buffers > 1 ? omp_get_thread_num() : 0)];
    for (std::int64_t g = 0; g < s.groups; ++g) {
      float* dx = op.x + (n * s.c + g * Cg) * s.h * s.w;
      const float* dy = op.y + (n * s.k + g * Kg) * PQ;
      if (is_plain_1x1(s)) {  // col is dx itself: nothing to scatter
        best_gemm({.shape = {taps, PQ, Kg}, .a = w_t.data() + g * taps * Kg, .lda = Kg, .b = dy, .ldb = PQ, .c = dx,
                   .ldc = PQ},
                  threads, ctx.inputs);
        continue;
      }
      std::fill_n(dx, Cg * s.h * s.w, 0.0f);
      for (std::int64_t p0 = 0; p0 < P; p0 += band_rows) {
        const std::int64_t p1 = std::min(P, p0 + band_rows), width = (p1 - p0) * Q;
        best_gemm({.shape = {taps, width, Kg}, .a = w_t.data() + g * taps * Kg, .lda = Kg, .b = dy + p0 * Q, .ldb = PQ,
                   .c = col.data(), .ldc = width},
                  threads, ctx.inputs);
        col2im(s, col.data(), dx, threads, p0, p1);
      }
    }
  });
}

void batched_backward_weights(const Operands& op, const RunContext& ctx) {
  const Shape& s = op.shape;
  const std::int64_t Cg = s.c_per_group(), Kg = s.k_per_group(), PQ = s.p() * s.q(), taps = Cg * s.r * s.s;
  const std::int64_t pixels = s.n * PQ;
  // The GEMM's k runs over every pixel of every image, and one operand must be transposed so
  // that its rows run along k. Normally that is dY (dW^T = col * dY^T, col gathered from the
  // images); a plain 1x1 whose inputs are fewer than its filters transposes x instead
  // (dW = dY * X^T), the smaller of the two (64 -> 256 on 56x56: 1.6 M floats, not 6.4 M).
  const bool transpose_x = is_plain_1x1(s) && Cg < Kg;
  const std::int64_t rows = transpose_x ? Kg : taps, cols = transpose_x ? Cg : Kg;  // the GEMM's M x N
  // Split-K: each thread a range of images and its own partial sums, added in a fixed order
  // afterwards (deterministic, no atomics). Always where the images divide evenly or are many,
  // as no barrier then separates the k blocks (256 x 64 over 6272 pixels: 1.41-1.68 ms against
  // 1.76-2.90 with both threads in one GEMM); else only where the output is a few micro-tiles,
  // such as a first layer's 9 taps x 16 filters, with nothing to split but k.
  const gemm::packed::MicroKernel& micro = gemm::packed::micro_kernel(best_simd_path());
  const std::int64_t tiles = (rows + micro.mr - 1) / micro.mr * ((cols + micro.nr - 1) / micro.nr);
  const bool images_split_well = s.n >= ctx.threads && (s.n % ctx.threads == 0 || s.n >= 4 * ctx.threads);
  const int splits =
      images_split_well || tiles < 4 * std::int64_t(ctx.threads) ? int(std::min<std::int64_t>(ctx.threads, s.n)) : 1;
  const std::int64_t width = transpose_x ? Cg : Kg;  // columns of the transposed operand
  // The transposed operand is written whole before it is read: a scratch kept from call to call
  // (a fresh zeroed vector cost a memset and, past glibc's mmap threshold, fresh pages each
  // call). `out` is written by each split's GEMM before it is read.
  thread_local std::vector<float> t_scratch, out_scratch;
  t_scratch.resize(std::size_t(pixels * width)), out_scratch.resize(std::size_t(splits * rows * cols));
  float* const t = t_scratch.data();
  float* const out = out_scratch.data();
  for (std::int64_t g = 0; g < s.groups; ++g) {
    // B: the transposed operand, (N * P * Q) x width, one image's block at a time.
#pragma omp parallel for num_threads(ctx.threads) if (s.n > 1) schedule(static)
    for (std::int64_t n = 0; n < s.n; ++n)
      transpose(transpose_x ? op.x + (n * s.c + g * Cg) * PQ : op.y + (n * s.k + g * Kg) * PQ, width, PQ,
                t + n * PQ * width);
    // A over images [n0, n1): row = tap (or filter), column = (image, pixel), read image by image.
    const auto gemm_over = [&](std::int64_t n0, std::int64_t n1, float* c, int threads) {
      if (is_plain_1x1(s)) {
        // A plain 1x1's A is each image's planes as they lie (x, or dY when x is transposed):
        // a matrix, packed straight from memory. One GEMM per image, the images' products
        // added after; reading A's rows through a reader copied each row before packing it
        // (memmove was 13-22% of the call on 256 -> 64).
        std::vector<float> image_sum(std::size_t(n1 - n0 > 1 ? rows * cols : 0));
        for (std::int64_t n = n0; n < n1; ++n) {
          const float* a = transpose_x ? op.y + (n * s.k + g * Kg) * PQ : op.x + (n * s.c + g * Cg) * PQ;
          float* dst = n == n0 ? c : image_sum.data();
          best_gemm({.shape = {rows, cols, PQ}, .a = a, .lda = PQ, .b = t + n * PQ * width, .ldb = width, .c = dst,
                     .ldc = cols},
                    threads, ctx.inputs);
          if (n > n0)
            for (std::int64_t i = 0; i < rows * cols; ++i) c[i] += image_sum[std::size_t(i)];
        }
        return;
      }
      const gemm::packed::BRowReader b_rows = [&](std::int64_t row, std::int64_t col0, std::int64_t count, float* dst) {
        std::copy_n(t + (n0 * PQ + row) * width + col0, count, dst);
      };
      std::vector<gemm::packed::BRowReader> images;  // (a plain 1x1, and so transpose_x, returned above)
      for (std::int64_t n = n0; n < n1; ++n) images.push_back(im2col_rows(s, op.x + (n * s.c + g * Cg) * s.h * s.w));
      const gemm::packed::ARowReader a_rows = [&](std::int64_t row, std::int64_t k0, std::int64_t count, float* dst) {
        for (std::int64_t done = 0; done < count;) {
          const std::int64_t n = (k0 + done) / PQ, pixel = (k0 + done) % PQ, run = std::min(count - done, PQ - pixel);
          images[std::size_t(n)](row, pixel, run, dst + done);
          done += run;
        }
      };
      best_gemm({rows, cols, (n1 - n0) * PQ}, a_rows, b_rows, c, cols, threads, ctx.inputs);
    };
    if (splits == 1) {
      gemm_over(0, s.n, out, ctx.threads);
    } else {
#pragma omp parallel for num_threads(splits) schedule(static)
      for (int part = 0; part < splits; ++part)
        gemm_over(s.n * part / splits, s.n * (part + 1) / splits, out + part * rows * cols, 1);
      for (int part = 1; part < splits; ++part)
        for (std::int64_t i = 0; i < rows * cols; ++i) out[i] += out[part * rows * cols + i];
    }
    float* dw = op.w + g * Kg * taps;  // Kg x taps
    if (transpose_x)
      std::copy_n(out, Kg * Cg, dw);  // dW_g itself (taps = Cg for a 1x1)
    else
      transpose(out, taps, Kg, dw);  // dW_g = (dW_g^T)^T
  }
}

}  // namespace
}  // namespace flopslab::conv::cpu

namespace flopslab::conv {
extern const ConvVariant kCpuBatched{
    .name = "batched",
    .step = 5,
    .multithreaded = true,
    .idea = "steps 2-3 for a batch: threads take whole images; dW as one GEMM over every image's pixels",
    .forward = cpu::batched_forward,
    .backward_data = cpu::batched_backward_data,
    .backward_weights = cpu::batched_backward_weights,
    .detail = gemm::packed::describe_choice,
};
}  // namespace flopslab::conv
