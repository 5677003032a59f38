// Step 2: im2col + GEMM. Copy every receptive field into a column of a matrix (im2col), and
// the convolution of one image and group becomes one GEMM:
//
//   Y_g [K/g x P*Q] = W_g [K/g x (C/g)*R*S] * col [(C/g)*R*S x P*Q]
//
// so it runs at the speed of the ladder's best GEMM (step 5 of the GEMM ladder). The price is
// the col matrix: R*S times the image, written to memory and read back for every image.
// backward_data is the transposed product followed by col2im (a scatter-add); backward_weights
// multiplies dY_g by col's transpose and sums over the images.
#include <algorithm>
#include <vector>

#include "kernels/cpu/conv/conv_cpu.h"
#include "kernels/cpu/gemm/packed.h"
#include "kernels/registry.h"

namespace flopslab::conv::cpu {
namespace {

void im2col_forward(const Operands& op, const RunContext& ctx) {
  const Shape& s = op.shape;
  const std::int64_t Cg = s.c_per_group(), Kg = s.k_per_group(), PQ = s.p() * s.q(), taps = Cg * s.r * s.s;
  std::vector<float> col(std::size_t(taps * PQ));
  for (std::int64_t n = 0; n < s.n; ++n)
    for (std::int64_t g = 0; g < s.groups; ++g) {
      im2col(s, op.x + (n * s.c + g * Cg) * s.h * s.w, col.data(), ctx.threads);
      best_gemm({.shape = {Kg, PQ, taps}, .a = op.w + g * Kg * taps, .lda = taps, .b = col.data(), .ldb = PQ,
                 .c = op.y + (n * s.k + g * Kg) * PQ, .ldc = PQ},
                ctx.threads, ctx.inputs);
    }
}

void im2col_backward_data(const Operands& op, const RunContext& ctx) { backward_data_im2col(op, ctx.threads, ctx.inputs); }

void im2col_backward_weights(const Operands& op, const RunContext& ctx) {
  const Shape& s = op.shape;
  const std::int64_t Cg = s.c_per_group(), Kg = s.k_per_group(), PQ = s.p() * s.q(), taps = Cg * s.r * s.s;
  std::vector<float> col(std::size_t(taps * PQ)), col_t(col.size()), partial(std::size_t(Kg * taps));
  for (std::int64_t g = 0; g < s.groups; ++g) {
    float* dw = op.w + g * Kg * taps;  // Kg x taps
    for (std::int64_t n = 0; n < s.n; ++n) {
      im2col(s, op.x + (n * s.c + g * Cg) * s.h * s.w, col.data(), ctx.threads);
      transpose(col.data(), taps, PQ, col_t.data());
      float* out = n == 0 ? dw : partial.data();
      best_gemm({.shape = {Kg, taps, PQ}, .a = op.y + (n * s.k + g * Kg) * PQ, .lda = PQ, .b = col_t.data(),
                 .ldb = taps, .c = out, .ldc = taps},
                ctx.threads, ctx.inputs);
      if (n > 0)
        for (std::int64_t i = 0; i < Kg * taps; ++i) dw[i] += partial[i];
    }
  }
}

}  // namespace
}  // namespace flopslab::conv::cpu

namespace flopslab::conv {
extern const ConvVariant kCpuIm2colGemm{
    .name = "im2col-gemm",
    .step = 2,
    .multithreaded = true,
    .idea = "copy each receptive field into a column (R*S times the image), then one GEMM per image and group",
    .forward = cpu::im2col_forward,
    .backward_data = cpu::im2col_backward_data,
    .backward_weights = cpu::im2col_backward_weights,
    .detail = gemm::packed::describe_choice,
};
}  // namespace flopslab::conv
