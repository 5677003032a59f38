// Step 4, for 1x1 filters only: no im2col at all. With R = S = 1, stride 1 and no padding,
// an image's channels already form the GEMM's B matrix, (C/g) x (H*W), row-major:
//
//   Y_g [K/g x H*W] = W_g [K/g x C/g] * X_g [C/g x H*W]
//
// Each pixel's output vector is the weight matrix times its input vector: a per-pixel
// fully connected layer. backward_data is W_g^T * dY_g straight into dx (no col2im), and
// backward_weights is dY_g * X_g^T, X_g^T read through im2col_transposed_rows.
#include <vector>

#include "kernels/cpu/conv/conv_cpu.h"
#include "kernels/cpu/gemm/packed.h"
#include "kernels/registry.h"

namespace flopslab::conv::cpu {
namespace {

const char* pointwise_only(const Shape& s) {
  if (is_plain_1x1(s)) return nullptr;
  return "only 1x1 filters with stride 1 and no padding";
}

void pointwise_forward(const Operands& op, const RunContext& ctx) {
  const Shape& s = op.shape;
  const std::int64_t Cg = s.c_per_group(), Kg = s.k_per_group(), HW = s.h * s.w;
  for (std::int64_t n = 0; n < s.n; ++n)
    for (std::int64_t g = 0; g < s.groups; ++g)
      best_gemm({.shape = {Kg, HW, Cg}, .a = op.w + g * Kg * Cg, .lda = Cg, .b = op.x + (n * s.c + g * Cg) * HW,
                 .ldb = HW, .c = op.y + (n * s.k + g * Kg) * HW, .ldc = HW},
                ctx.threads, ctx.inputs);
}

void pointwise_backward_data(const Operands& op, const RunContext& ctx) {
  const Shape& s = op.shape;
  const std::int64_t Cg = s.c_per_group(), Kg = s.k_per_group(), HW = s.h * s.w;
  std::vector<float> w_t(std::size_t(Cg * Kg));
  for (std::int64_t g = 0; g < s.groups; ++g) {
    transpose(op.w + g * Kg * Cg, Kg, Cg, w_t.data());
    for (std::int64_t n = 0; n < s.n; ++n)
      best_gemm({.shape = {Cg, HW, Kg}, .a = w_t.data(), .lda = Kg, .b = op.y + (n * s.k + g * Kg) * HW, .ldb = HW,
                 .c = op.x + (n * s.c + g * Cg) * HW, .ldc = HW},
                ctx.threads, ctx.inputs);
  }
}

void pointwise_backward_weights(const Operands& op, const RunContext& ctx) {
  const Shape& s = op.shape;
  const std::int64_t Cg = s.c_per_group(), Kg = s.k_per_group(), HW = s.h * s.w;
  std::vector<float> partial(std::size_t(Kg * Cg));
  for (std::int64_t g = 0; g < s.groups; ++g) {
    float* dw = op.w + g * Kg * Cg;
    for (std::int64_t n = 0; n < s.n; ++n) {
      float* out = n == 0 ? dw : partial.data();
      best_gemm({Kg, Cg, HW}, op.y + (n * s.k + g * Kg) * HW, HW,
                im2col_transposed_rows(s, op.x + (n * s.c + g * Cg) * HW), out, Cg, ctx.threads, ctx.inputs);
      if (n > 0)
        for (std::int64_t i = 0; i < Kg * Cg; ++i) dw[i] += partial[i];
    }
  }
}

}  // namespace
}  // namespace flopslab::conv::cpu

namespace flopslab::conv {
extern const ConvVariant kCpuGemm1x1{
    .name = "gemm-1x1",
    .step = 4,
    .multithreaded = true,
    .idea = "1x1 filters: the image already is the GEMM's B matrix, no im2col",
    .forward = cpu::pointwise_forward,
    .backward_data = cpu::pointwise_backward_data,
    .backward_weights = cpu::pointwise_backward_weights,
    .unsupported = cpu::pointwise_only,
    .detail = gemm::packed::describe_choice,
};
}  // namespace flopslab::conv
