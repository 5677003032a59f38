// BatchNorm over N (and H x W): batch statistics in training, running statistics in evaluation.
#include <algorithm>
#include <vector>

#include "kernels/cpu/gemm/low_precision.h"
#include "kernels/cpu/multiversion.h"
#include "nn/distributed.h"
#include "nn/layers/common.h"
#include "nn/device.h"

namespace flopslab::nn {
using namespace detail;

BatchNorm::BatchNorm(std::int64_t channels, float eps, float momentum)
    : weight{"weight", Tensor({channels}, 1.0f), Tensor({channels})},
      bias{"bias", Tensor({channels}), Tensor({channels})},
      running_mean({channels}),
      running_var({channels}, 1.0f),
      channels_(channels),
      eps_(eps),
      momentum_(momentum) {}

std::string BatchNorm::describe() const { return "BatchNorm(" + std::to_string(channels_) + ")"; }

// The loops over one plane of one channel, compiled per ISA level: the rest of nn/ is built
// for baseline x86-64 (SSE2), and these passes were a tenth of the CNN's training step.
namespace {
FLOPSLAB_MULTIVERSION(float, plane_sum, (const float* __restrict in, std::int64_t n), (in, n)) {
  float s = 0;
#pragma omp simd reduction(+ : s)
  for (std::int64_t j = 0; j < n; ++j) s += in[j];
  return s;
}
FLOPSLAB_MULTIVERSION(float, plane_centred_squares, (const float* __restrict in, float m, std::int64_t n), (in, m, n)) {
  float s = 0;
#pragma omp simd reduction(+ : s)
  for (std::int64_t j = 0; j < n; ++j) s += (in[j] - m) * (in[j] - m);
  return s;
}
// Where backward finds x_hat: v itself (16-bit precision's stored copy, expanded into a plane
// of float32), or, from_input, recomputed from the input v as the forward computed it,
// (v - m) * inv_std: the same float operations, so the same values.
struct XHat {
  float m = 0, inv_std = 1;
  bool from_input = false;
};
// xh = (x - m) * inv_std, y = gamma * xh + beta; xh stored only where xh is not null.
FLOPSLAB_MULTIVERSION(void, normalise_plane,
                      (const float* __restrict in, float m, float inv_std, float gamma, float beta,
                       float* __restrict xh, float* __restrict out, std::int64_t n),
                      (in, m, inv_std, gamma, beta, xh, out, n)) {
  if (xh == nullptr) {
    for (std::int64_t j = 0; j < n; ++j) out[j] = gamma * ((in[j] - m) * inv_std) + beta;
    return;
  }
  for (std::int64_t j = 0; j < n; ++j) {
    xh[j] = (in[j] - m) * inv_std;
    out[j] = gamma * xh[j] + beta;
  }
}
// sums[0] += sum of g, sums[1] += sum of g * xh; v is x_hat, or the input (see XHat).
FLOPSLAB_MULTIVERSION(void, plane_gradient_sums,
                      (const float* __restrict g, const float* __restrict v, XHat xh, std::int64_t n, double* sums),
                      (g, v, xh, n, sums)) {
  float s = 0, sx = 0;
  if (xh.from_input) {
#pragma omp simd reduction(+ : s, sx)
    for (std::int64_t j = 0; j < n; ++j) {
      s += g[j];
      sx += g[j] * ((v[j] - xh.m) * xh.inv_std);
    }
  } else {
#pragma omp simd reduction(+ : s, sx)
    for (std::int64_t j = 0; j < n; ++j) {
      s += g[j];
      sx += g[j] * v[j];
    }
  }
  sums[0] += s, sums[1] += sx;
}
// dx = scale * (g - mean_dy - xh * mean_dy_xhat); v as above. out may be g (each element
// read before it is written).
FLOPSLAB_MULTIVERSION(void, plane_input_gradient,
                      (const float* g, const float* __restrict v, XHat xh, float scale, float mean_dy,
                       float mean_dy_xhat, float* out, std::int64_t n),
                      (g, v, xh, scale, mean_dy, mean_dy_xhat, out, n)) {
  if (xh.from_input) {
    for (std::int64_t j = 0; j < n; ++j)
      out[j] = scale * (g[j] - mean_dy - ((v[j] - xh.m) * xh.inv_std) * mean_dy_xhat);
    return;
  }
  for (std::int64_t j = 0; j < n; ++j) out[j] = scale * (g[j] - mean_dy - v[j] * mean_dy_xhat);
}
}  // namespace

// x is N x C or N x C x H x W: channel c of image n is the `plane` floats at (n*C + c)*plane.
// Sums run in float along each contiguous plane (vectorised) and in double across planes.
Tensor BatchNorm::forward(const Tensor& x, const Context& ctx) {
  if ((x.rank() != 2 && x.rank() != 4) || x.dim(1) != channels_)
    throw std::invalid_argument(describe() + ": expects N x " + std::to_string(channels_) + " (x H x W), got " +
                                x.shape_string());
  const std::int64_t n = x.dim(0), plane = x.rank() == 4 ? x.dim(2) * x.dim(3) : 1, count = n * plane;
  if (ctx.training && count < 2) throw std::invalid_argument(describe() + ": training needs more than one value per channel");
  if (x.on_cuda()) {
    if (ctx.training && sync != nullptr && sync->world() > 1)
      throw std::invalid_argument(describe() + ": SyncBatchNorm is CPU-only (GPU ranks would reduce through NCCL)");
    return forward_cuda(x, ctx);
  }
  Tensor y = Tensor::uninitialized(x.shape());
  // In float32 nothing but the input is kept (backward recomputes x_hat from it); in 16 bits
  // x_hat goes straight to a 16-bit buffer filled plane by plane (no float32 copy of the whole
  // tensor under mixed precision).
  const bool half = ctx.precision != Precision::fp32;
  std::uint16_t* x_hat16 = nullptr;
  x_hat_.clear();
  if (half) {
    x_hat16 = x_hat_.allocate16(x.shape(), ctx.precision);
    x_ = Tensor(), mean_ = Tensor();
  } else {
    x_ = x, mean_ = Tensor({channels_});  // backward recomputes x_hat from these
  }
  inv_std_ = Tensor({channels_});
  trained_pass_ = ctx.training;
  const bool update = ctx.training && ctx.update_statistics;
  // SyncBatchNorm: the global batch's mean and variance from one all-reduce of
  // (count, sum per channel, sum of squares per channel).
  std::vector<double> global(ctx.training && sync != nullptr && sync->world() > 1 ? std::size_t(2 * channels_ + 1) : 0);
  synced_count_ = 0;
  if (!global.empty()) {
    if (half) throw std::invalid_argument(describe() + ": SyncBatchNorm runs in fp32");
    global[0] = double(count);
#pragma omp parallel for num_threads(ctx.threads) if (x.size() > kParallelElements) schedule(static)
    for (std::int64_t c = 0; c < channels_; ++c) {
      double sum = 0, sq = 0;
      for (std::int64_t i = 0; i < n; ++i) {
        const float* in = x.data() + (i * channels_ + c) * plane;
        for (std::int64_t j = 0; j < plane; ++j) sum += in[j], sq += double(in[j]) * in[j];
      }
      global[std::size_t(1 + c)] = sum, global[std::size_t(1 + channels_ + c)] = sq;
    }
    sync->allreduce_sum(global.data(), std::int64_t(global.size()));
    synced_count_ = std::int64_t(global[0]);
  }
#pragma omp parallel for num_threads(ctx.threads) if (x.size() > kParallelElements) schedule(static)
  for (std::int64_t c = 0; c < channels_; ++c) {
    double mean, var;
    if (!global.empty()) {
      const double total = global[0];
      mean = global[std::size_t(1 + c)] / total;
      var = std::max(global[std::size_t(1 + channels_ + c)] / total - mean * mean, 0.0);
      if (update) {
        running_mean[c] = float((1 - momentum_) * running_mean[c] + momentum_ * mean);
        running_var[c] = float((1 - momentum_) * running_var[c] + momentum_ * var * total / (total - 1));
      }
    } else if (ctx.training) {
      double sum = 0, sq = 0;
      for (std::int64_t i = 0; i < n; ++i) sum += plane_sum(x.data() + (i * channels_ + c) * plane, plane);
      mean = sum / double(count);
      const float m = float(mean);
      for (std::int64_t i = 0; i < n; ++i) sq += plane_centred_squares(x.data() + (i * channels_ + c) * plane, m, plane);
      var = sq / double(count);  // biased, for normalising; the running estimate is unbiased
      if (update) {
        running_mean[c] = float((1 - momentum_) * running_mean[c] + momentum_ * mean);
        running_var[c] = float((1 - momentum_) * running_var[c] + momentum_ * sq / double(count - 1));
      }
    } else {
      mean = running_mean[c];
      var = running_var[c];
    }
    const float inv_std = float(1.0 / std::sqrt(var + eps_)), m = float(mean);
    const float gamma = weight.value[c], beta = bias.value[c];
    inv_std_[c] = inv_std;
    if (!half) mean_[c] = m;
    std::vector<float> scratch(half ? std::size_t(plane) : 0);
    for (std::int64_t i = 0; i < n; ++i) {
      const std::int64_t at = (i * channels_ + c) * plane;
      normalise_plane(x.data() + at, m, inv_std, gamma, beta, half ? scratch.data() : nullptr, y.data() + at, plane);
      if (half) gemm::to_bits16(ctx.precision, scratch.data(), x_hat16 + at, plane);
    }
  }
  return y;
}

// Training mode: dx = inv_std * (g - mean(g) - x_hat * mean(g * x_hat)), g = dy * gamma.
// Evaluation mode (fixed statistics): dx = dy * gamma * inv_std.
Tensor BatchNorm::backward(const Tensor& dy, const Context& ctx) {
  if (dy.on_cuda()) return backward_cuda(dy, ctx);
  const std::int64_t n = dy.dim(0), plane = dy.rank() == 4 ? dy.dim(2) * dy.dim(3) : 1, count = n * plane;
  // Over dy when the caller drops it and nothing else holds it (Context::dy_disposable): the
  // sums over dy are taken first.
  Tensor dx = ctx.dy_disposable && dy.sole_owner() ? dy : Tensor::uninitialized(dy.shape());
  const bool half = x_hat_.is_16bit();
  if (!half && x_.size() != dy.size())
    throw std::logic_error(describe() + ": backward without a float32 forward on the CPU before it");
  const float* const input = half ? nullptr : x_.data();
  const float* const grad = dy.data();
  float* const result = dx.data();
  std::vector<double> sums(std::size_t(2 * channels_));  // per channel: sum dy, sum dy * x_hat
#pragma omp parallel for num_threads(ctx.threads) if (dy.size() > kParallelElements) schedule(static)
  for (std::int64_t c = 0; c < channels_; ++c) {
    double sum[2] = {0, 0};  // dy, dy * x_hat
    // A plane of x_hat: recomputed from the input, or expanded from its 16-bit copy into scratch.
    std::vector<float> scratch(half ? std::size_t(plane) : 0);
    const XHat xh{.m = half ? 0.0f : mean_[c], .inv_std = inv_std_[c], .from_input = !half};
    for (std::int64_t i = 0; i < n; ++i) {
      const std::int64_t at = (i * channels_ + c) * plane;
      if (half) x_hat_.read(at, plane, scratch.data());
      plane_gradient_sums(grad + at, half ? scratch.data() : input + at, xh, plane, sum);
    }
    if (!weight.frozen) weight.grad[c] = float(sum[1]);
    if (!bias.frozen) bias.grad[c] = float(sum[0]);
    sums[std::size_t(2 * c)] = sum[0], sums[std::size_t(2 * c + 1)] = sum[1];
  }
  // SyncBatchNorm: the input gradient needs the sums over the global batch (the parameter
  // gradients stay this rank's: the gradient all-reduce averages them).
  std::int64_t total = count;
  if (trained_pass_ && synced_count_ > 0) {
    sync->allreduce_sum(sums.data(), std::int64_t(sums.size()));
    total = synced_count_;
  }
#pragma omp parallel for num_threads(ctx.threads) if (dy.size() > kParallelElements) schedule(static)
  for (std::int64_t c = 0; c < channels_; ++c) {
    std::vector<float> scratch(half ? std::size_t(plane) : 0);
    const float scale = weight.value[c] * inv_std_[c];
    const float mean_dy = float(sums[std::size_t(2 * c)] / double(total)),
                mean_dy_xhat = float(sums[std::size_t(2 * c + 1)] / double(total));
    const XHat xh{.m = half ? 0.0f : mean_[c], .inv_std = inv_std_[c], .from_input = !half};
    for (std::int64_t i = 0; i < n; ++i) {
      const std::int64_t at = (i * channels_ + c) * plane;
      const float* g = grad + at;
      float* out = result + at;  // g itself when dx is dy
      if (!trained_pass_) {  // fixed statistics: no x_hat term
        for (std::int64_t j = 0; j < plane; ++j) out[j] = scale * g[j];
        continue;
      }
      if (half) x_hat_.read(at, plane, scratch.data());
      plane_input_gradient(g, half ? scratch.data() : input + at, xh, scale, mean_dy, mean_dy_xhat, out, plane);
    }
  }
  return dx;
}

void BatchNorm::collect_parameters(const std::string& prefix, std::vector<Parameter*>& out) {
  name_parameters(prefix, weight, bias, out);
}

void BatchNorm::collect_buffers(const std::string& prefix, std::vector<Buffer>& out) {
  out.push_back({prefix + "running_mean", &running_mean});
  out.push_back({prefix + "running_var", &running_var});
}

#ifndef FLOPSLAB_HAVE_CUDA  // the CPU-only build's stand-in of the GPU half (nn/device.h's no_cuda)
Tensor BatchNorm::forward_cuda(const Tensor&, const Context&) { no_cuda(describe()); }
Tensor BatchNorm::backward_cuda(const Tensor&, const Context&) { no_cuda(describe()); }
#endif

// Placed by the bytes it moves: x in, y out (and the normalised x saved), per channel four
// floats of parameters and statistics; backward reads dy and the saved x-hat, writes dx and
// the two parameter gradients.
LayerCost BatchNorm::cost(const std::vector<std::int64_t>& input, const std::vector<std::int64_t>& output,
                          bool) const {
  return data_movement_cost(element_count(input), element_count(output), 1, 16.0 * double(channels_),
                            8.0 * double(channels_));
}

}  // namespace flopslab::nn
