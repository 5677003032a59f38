// Linear: y = x W^T + b, its backward two GEMMs (dW = dy^T x, dx = dy W).
#include "kernels/cpu/conv/conv_cpu.h"
#include "nn/layers/common.h"

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
  require_rank(x, 2, "Linear");
  if (x.dim(1) != weight.value.dim(1))
    throw std::invalid_argument(describe() + ": input has " + std::to_string(x.dim(1)) + " features");
  x_.save(x, ctx.precision, ctx.threads);
  Tensor y;
  matmul(x, false, weight.value, true, y, ctx.threads, false, ctx.precision);  // N x out
  const std::int64_t n = y.dim(0), out = y.dim(1);
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < out; ++j) y[i * out + j] += bias.value[j];
  round_to_precision(y, ctx.precision, ctx.threads);
  return y;
}

Tensor Linear::backward(const Tensor& dy, const Context& ctx) {
  if (!weight.frozen) {
    if (x_.is_16bit()) {
      // dW = dy^T x with x's rows read from the 16-bit copy while the GEMM packs them.
      const std::int64_t n = dy.dim(0), out = dy.dim(1), in = weight.value.dim(1);
      Tensor dy_t = Tensor::uninitialized({out, n});
      conv::cpu::transpose(dy.data(), n, out, dy_t.data());
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

}  // namespace flopslab::nn
