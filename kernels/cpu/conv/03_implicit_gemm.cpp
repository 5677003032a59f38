// Step 3: implicit GEMM. The same product as step 2, but the col matrix is never stored: the
// packed GEMM copies B into slivers before multiplying anyway, so here it reads B's rows
// straight from the image (im2col_rows). What step 2 wrote to memory and read back, R*S times
// the image per call, becomes reads that hit the cache, because neighbouring taps read the
// same image rows. backward_weights does the same with the transposed matrix; backward_data
// keeps step 2's col2im, whose scatter does not fit a packed B.
#include <vector>

#include "kernels/cpu/conv/conv_cpu.h"
#include "kernels/cpu/gemm/packed.h"
#include "kernels/registry.h"

namespace flopslab::conv::cpu {
namespace {

void implicit_forward(const Operands& op, const RunContext& ctx) {
  const Shape& s = op.shape;
  const std::int64_t Cg = s.c_per_group(), Kg = s.k_per_group(), PQ = s.p() * s.q(), taps = Cg * s.r * s.s;
  for (std::int64_t n = 0; n < s.n; ++n)
    for (std::int64_t g = 0; g < s.groups; ++g)
      best_gemm({Kg, PQ, taps}, op.w + g * Kg * taps, taps, im2col_rows(s, op.x + (n * s.c + g * Cg) * s.h * s.w),
                op.y + (n * s.k + g * Kg) * PQ, PQ, ctx.threads, ctx.inputs);
}

void implicit_backward_data(const Operands& op, const RunContext& ctx) { backward_data_im2col(op, ctx.threads, ctx.inputs); }

void implicit_backward_weights(const Operands& op, const RunContext& ctx) {
  const Shape& s = op.shape;
  const std::int64_t Cg = s.c_per_group(), Kg = s.k_per_group(), PQ = s.p() * s.q(), taps = Cg * s.r * s.s;
  std::vector<float> partial(std::size_t(Kg * taps));
  for (std::int64_t g = 0; g < s.groups; ++g) {
    float* dw = op.w + g * Kg * taps;  // Kg x taps = dY_g [Kg x PQ] * col^T [PQ x taps], summed over images
    for (std::int64_t n = 0; n < s.n; ++n) {
      float* out = n == 0 ? dw : partial.data();
      best_gemm({Kg, taps, PQ}, op.y + (n * s.k + g * Kg) * PQ, PQ,
                im2col_transposed_rows(s, op.x + (n * s.c + g * Cg) * s.h * s.w), out, taps, ctx.threads, ctx.inputs);
      if (n > 0)
        for (std::int64_t i = 0; i < Kg * taps; ++i) dw[i] += partial[i];
    }
  }
}

}  // namespace
}  // namespace flopslab::conv::cpu

namespace flopslab::conv {
extern const ConvVariant kCpuImplicitGemm{
    .name = "implicit-gemm",
    .step = 3,
    .multithreaded = true,
    .idea = "step 2 without the col matrix: the GEMM packs its B slivers straight from the image",
    .forward = cpu::implicit_forward,
    .backward_data = cpu::implicit_backward_data,
    .backward_weights = cpu::implicit_backward_weights,
    .detail = gemm::packed::describe_choice,
};
}  // namespace flopslab::conv
