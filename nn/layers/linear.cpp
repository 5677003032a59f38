// Linear: y = x W^T + b, its backward two GEMMs (dW = dy^T x, dx = dy W).
#include <vector>

#include "kernels/cpu/conv/conv_cpu.h"
#include "nn/layers/common.h"
#include "nn/device.h"

namespace flopslab::nn {
using namespace detail;

Linear::Linear(std::int64_t in, std::int64_t out, std::mt19937_64& rng)
    : weight{"weight", Tensor({out, in}), Tensor({out, in})}, bias{"bias", Tensor({out}), Tensor({out})} {
  default_init(weight, bias, in, rng);
}

std::string Linear::describe() const {
  return "Linear(" + std::to_string(weight.value.dim(1)) + " -> " + std::to_string(weight.value.dim(0)) + ")";
}

Tensor Linear::forward(const Tensor& x, const Context& ctx) {
  if (x.on_cuda()) return forward_cuda(x, ctx);
  require_rank(x, 2, "Linear");
  if (x.dim(1) != weight.value.dim(1))
    throw std::invalid_argument(describe() + ": input has " + std::to_string(x.dim(1)) + " features");
  x_.save(x, ctx.precision, ctx.threads);
  const std::int64_t n = x.dim(0), in = x.dim(1), out = weight.value.dim(0);
  if (ctx.precision == Precision::fp32 && n > 0) {
    // y^T = W x^T, the bias per row in the GEMM's epilogue. W (out x in) is already the GEMM's
    // A as it is stored, and B = x^T is packed from x by block transposes; transposing y (n
    // rows, a batch) moves fewer bytes than transposing W, which y = x W^T needs every step
    // (the optimizer has changed W). y^T is kernel scratch, like the GEMM's packed panels,
    // kept from step to step (a fresh vector was zeroed, and page-faulted in, every step).
    float* const y_t = gemm::packed::reusable_scratch(gemm::packed::kCallerCopy2, out * n);
    const gemm::packed::TransposedB x_t{x.data(), in};
    gemm::packed::gemm_packed_fused({out, n, in}, weight.value.data(), in, {}, y_t, n,
                                    {.row_shift = bias.value.data()}, ctx.threads, &x_t);
    Tensor y = Tensor::uninitialized({n, out});
    conv::cpu::transpose(y_t, out, n, y.data(), ctx.threads);
    return y;
  }
  Tensor y;
  matmul(x, false, weight.value, true, y, ctx.threads, false, ctx.precision);  // N x out
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < out; ++j) y[i * out + j] += bias.value[j];
  round_to_precision(y, ctx.precision, ctx.threads);
  return y;
}

Tensor Linear::backward(const Tensor& dy, const Context& ctx) {
  if (dy.on_cuda()) return backward_cuda(dy, ctx);
  if (!weight.frozen) {
    if (x_.is_16bit()) {
      // dW = dy^T x with x's rows read from the 16-bit copy while the GEMM packs them.
      const std::int64_t n = dy.dim(0), out = dy.dim(1), in = weight.value.dim(1);
      Tensor dy_t = Tensor::uninitialized({out, n});
      conv::cpu::transpose(dy.data(), n, out, dy_t.data(), ctx.threads);
      const gemm::packed::BRowReader rows = [&](std::int64_t row, std::int64_t col0, std::int64_t cols, float* dst) {
        x_.read(row * in + col0, cols, dst);
      };
      conv::cpu::best_gemm({out, in, n}, dy_t.data(), n, rows, weight.grad.data(), in, ctx.threads, ctx.precision);
    } else {
      matmul(dy, true, x_.get(ctx.threads), false, weight.grad, ctx.threads, false, ctx.precision);
    }
  }
  if (!bias.frozen) bias.grad = sum_rows(dy);
  Tensor dx;
  if (ctx.input_gradient) {
    matmul(dy, false, weight.value, false, dx, ctx.threads, false, ctx.precision);  // N x in = dy W
    round_to_precision(dx, ctx.precision, ctx.threads);
  }
  return dx;
}

void Linear::collect_parameters(const std::string& prefix, std::vector<Parameter*>& out) {
  name_parameters(prefix, weight, bias, out);
}

#ifndef FLOPSLAB_HAVE_CUDA  // the CPU-only build's stand-in of the GPU half (nn/device.h's no_cuda)
Tensor Linear::forward_cuda(const Tensor&, const Context&) { no_cuda(describe()); }
Tensor Linear::backward_cuda(const Tensor&, const Context&) { no_cuda(describe()); }
#endif

// x: N x in, y: N x out. Forward: 2 N in out FLOPs, reading x, W and b, writing y. Backward:
// dW = dy^T x (2 N in out) and, with an input gradient, dx = dy W (as many).
LayerCost Linear::cost(const std::vector<std::int64_t>& input, const std::vector<std::int64_t>& output,
                       bool input_gradient) const {
  if (input.size() != 2 || output.size() != 2) return {};
  const double n = double(input[0]), in = double(input[1]), out = double(output[1]), gemm = 2 * n * in * out;
  return {.counted = true,
          .forward_flops = gemm,
          .forward_bytes = 4 * (n * in + in * out + out + n * out),
          .backward_flops = input_gradient ? 2 * gemm : gemm,
          .backward_bytes = 4 * (n * out + n * in + in * out + out + (input_gradient ? in * out + n * in : 0))};
}

}  // namespace flopslab::nn
