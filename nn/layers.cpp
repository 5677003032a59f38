#include "nn/layers.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "kernels/cpu/conv/channel_shuffle.h"
#include "kernels/cpu/conv/pooling.h"
#include "kernels/registry.h"
#include "nn/init.h"

namespace flopslab::nn {
namespace {

// Below this many elements an elementwise loop runs on one thread (a parallel region costs
// a few microseconds).
constexpr std::int64_t kParallelElements = 1 << 15;

void require_rank(const Tensor& x, int rank, const std::string& layer) {
  if (x.rank() != rank)
    throw std::invalid_argument(layer + ": expects a " + std::to_string(rank) + "-D input, got " + x.shape_string());
}

// PyTorch's default for Linear and Conv2d: weight and bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))
// (kaiming_uniform with a = sqrt(5)).
void default_init(Parameter& weight, Parameter& bias, std::int64_t fan_in, std::mt19937_64& rng) {
  kaiming_uniform(weight.value, fan_in, rng, std::sqrt(5.0));
  uniform(bias.value, 1.0 / std::sqrt(double(fan_in)), rng);
}

}  // namespace

// ---- Linear ----------------------------------------------------------------------------------
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
  x_ = x;
  Tensor y;
  matmul(x, false, weight.value, true, y, ctx.threads);  // N x out
  const std::int64_t n = y.dim(0), out = y.dim(1);
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < out; ++j) y[i * out + j] += bias.value[j];
  return y;
}

Tensor Linear::backward(const Tensor& dy, const Context& ctx) {
  matmul(dy, true, x_, false, weight.grad, ctx.threads);  // out x in = dy^T x
  bias.grad = sum_rows(dy);
  Tensor dx;
  if (ctx.input_gradient) matmul(dy, false, weight.value, false, dx, ctx.threads);  // N x in = dy W
  return dx;
}

void Linear::collect_parameters(const std::string& prefix, std::vector<Parameter*>& out) {
  weight.name = prefix + "weight";
  bias.name = prefix + "bias";
  out.push_back(&weight);
  out.push_back(&bias);
}

// ---- activations -----------------------------------------------------------------------------
const char* activation_name(ActivationKind k) {
  switch (k) {
    case ActivationKind::relu: return "ReLU";
    case ActivationKind::leaky_relu: return "LeakyReLU";
    case ActivationKind::relu6: return "ReLU6";
    case ActivationKind::sigmoid: return "Sigmoid";
    case ActivationKind::tanh: return "Tanh";
    case ActivationKind::softplus: return "Softplus";
  }
  return "?";
}

std::string Activation::describe() const { return activation_name(kind_); }

Tensor Activation::forward(const Tensor& x, const Context& ctx) {
  const int threads = ctx.threads;
  x_ = x;
  Tensor y = Tensor::uninitialized(x.shape());
  const float* in = x.data();
  float* out = y.data();
  const std::int64_t n = x.size();
  switch (kind_) {
    case ActivationKind::relu:
#pragma omp parallel for num_threads(threads) if (n > kParallelElements)
      for (std::int64_t i = 0; i < n; ++i) out[i] = in[i] > 0 ? in[i] : 0.0f;
      break;
    case ActivationKind::leaky_relu:
#pragma omp parallel for num_threads(threads) if (n > kParallelElements)
      for (std::int64_t i = 0; i < n; ++i) out[i] = in[i] > 0 ? in[i] : slope_ * in[i];
      break;
    case ActivationKind::relu6:
#pragma omp parallel for num_threads(threads) if (n > kParallelElements)
      for (std::int64_t i = 0; i < n; ++i) out[i] = std::clamp(in[i], 0.0f, 6.0f);
      break;
    case ActivationKind::sigmoid:
#pragma omp parallel for num_threads(threads) if (n > kParallelElements)
      for (std::int64_t i = 0; i < n; ++i) out[i] = 1.0f / (1.0f + std::exp(-in[i]));
      break;
    case ActivationKind::tanh:
#pragma omp parallel for num_threads(threads) if (n > kParallelElements)
      for (std::int64_t i = 0; i < n; ++i) out[i] = std::tanh(in[i]);
      break;
    case ActivationKind::softplus:  // log(1 + e^x), computed without overflow
#pragma omp parallel for num_threads(threads) if (n > kParallelElements)
      for (std::int64_t i = 0; i < n; ++i) out[i] = std::max(in[i], 0.0f) + std::log1p(std::exp(-std::fabs(in[i])));
      break;
  }
  y_ = y;
  return y;
}

Tensor Activation::backward(const Tensor& dy, const Context& ctx) {
  const int threads = ctx.threads;
  Tensor dx = Tensor::uninitialized(dy.shape());
  const float *g = dy.data(), *x = x_.data(), *y = y_.data();
  float* out = dx.data();
  const std::int64_t n = dy.size();
  switch (kind_) {
    case ActivationKind::relu:
#pragma omp parallel for num_threads(threads) if (n > kParallelElements)
      for (std::int64_t i = 0; i < n; ++i) out[i] = x[i] > 0 ? g[i] : 0.0f;
      break;
    case ActivationKind::leaky_relu:
#pragma omp parallel for num_threads(threads) if (n > kParallelElements)
      for (std::int64_t i = 0; i < n; ++i) out[i] = x[i] > 0 ? g[i] : slope_ * g[i];
      break;
    case ActivationKind::relu6:
#pragma omp parallel for num_threads(threads) if (n > kParallelElements)
      for (std::int64_t i = 0; i < n; ++i) out[i] = x[i] > 0 && x[i] < 6 ? g[i] : 0.0f;
      break;
    case ActivationKind::sigmoid:
#pragma omp parallel for num_threads(threads) if (n > kParallelElements)
      for (std::int64_t i = 0; i < n; ++i) out[i] = g[i] * y[i] * (1 - y[i]);
      break;
    case ActivationKind::tanh:
#pragma omp parallel for num_threads(threads) if (n > kParallelElements)
      for (std::int64_t i = 0; i < n; ++i) out[i] = g[i] * (1 - y[i] * y[i]);
      break;
    case ActivationKind::softplus:  // d/dx log(1 + e^x) = sigmoid(x)
#pragma omp parallel for num_threads(threads) if (n > kParallelElements)
      for (std::int64_t i = 0; i < n; ++i) out[i] = g[i] / (1.0f + std::exp(-x[i]));
      break;
  }
  return dx;
}

// ---- Conv2d ----------------------------------------------------------------------------------
Conv2d::Conv2d(const conv::Shape& layer, std::mt19937_64& rng)
    : weight{"weight", Tensor({layer.k, layer.c_per_group(), layer.r, layer.s}),
             Tensor({layer.k, layer.c_per_group(), layer.r, layer.s})},
      bias{"bias", Tensor({layer.k}), Tensor({layer.k})},
      shape_(layer) {
  default_init(weight, bias, layer.c_per_group() * layer.r * layer.s, rng);
}

std::string Conv2d::describe() const {
  const conv::Shape& s = shape_;
  std::string out = "Conv2d(" + std::to_string(s.c) + " -> " + std::to_string(s.k) + ", " + std::to_string(s.r) + "x" +
                    std::to_string(s.s);
  if (s.stride_h != 1 || s.stride_w != 1) out += ", stride " + std::to_string(s.stride_h);
  if (s.pad_h != 0 || s.pad_w != 0) out += ", pad " + std::to_string(s.pad_h) + "," + std::to_string(s.pad_w);
  if (s.dilation_h != 1) out += ", dilation " + std::to_string(s.dilation_h);
  if (s.groups != 1) out += ", groups " + std::to_string(s.groups);
  return out + ")";
}

namespace {
// The kernel's own threading splits one image's GEMM, which for the small planes of a
// training batch costs more in synchronisation than it gains. Here each thread takes whole
// images and runs the kernel single-threaded on them: forward and backward_data write
// disjoint images; backward_weights sums per-thread partial gradients in a fixed order, so
// the result does not depend on timing.
template <class Run>
void over_image_chunks(std::int64_t images, int threads, const Run& run) {
  const int chunks = int(std::min<std::int64_t>(threads, images));
#pragma omp parallel for num_threads(chunks) schedule(static)
  for (int t = 0; t < chunks; ++t) run(t, images * t / chunks, images * (t + 1) / chunks);
}
}  // namespace

Tensor Conv2d::forward(const Tensor& x, const Context& ctx) {
  require_rank(x, 4, "Conv2d");
  conv::Shape s = shape_;
  s.n = x.dim(0), s.h = x.dim(2), s.w = x.dim(3);
  if (x.dim(1) != s.c) throw std::invalid_argument(describe() + ": input has " + std::to_string(x.dim(1)) + " channels");
  if (const std::string problem = conv::shape_problem(s); !problem.empty())
    throw std::invalid_argument(describe() + " on " + x.shape_string() + ": " + problem);
  shape_ = s;
  x_ = x;
  Tensor y = Tensor::uninitialized({s.n, s.k, s.p(), s.q()});  // the GEMM overwrites every output
  static const ConvVariant& kernel = *find_conv_variant("implicit-gemm");
  over_image_chunks(s.n, ctx.threads, [&](int, std::int64_t begin, std::int64_t end) {
    conv::Shape part = s;
    part.n = end - begin;
    kernel.forward({part, const_cast<float*>(x.data()) + begin * s.c * s.h * s.w, weight.value.data(),
                    y.data() + begin * s.k * s.p() * s.q()},
                   {.threads = 1});
  });
  const std::int64_t plane = s.p() * s.q();
  for (std::int64_t i = 0; i < s.n * s.k; ++i) {
    const float b = bias.value[i % s.k];
    float* row = y.data() + i * plane;
    for (std::int64_t j = 0; j < plane; ++j) row[j] += b;
  }
  return y;
}

Tensor Conv2d::backward(const Tensor& dy, const Context& ctx) {
  const conv::Shape& s = shape_;
  static const ConvVariant& kernel = *find_conv_variant("implicit-gemm");
  static const ConvVariant& weights_kernel = *find_conv_variant("im2col-gemm");
  float* dy_data = const_cast<float*>(dy.data());  // the backward passes only read y (dy)
  const std::int64_t x_image = s.c * s.h * s.w, y_image = s.k * s.p() * s.q();
  const int chunks = int(std::min<std::int64_t>(ctx.threads, s.n));
  std::vector<Tensor> partial(static_cast<std::size_t>(chunks));
  over_image_chunks(s.n, ctx.threads, [&](int t, std::int64_t begin, std::int64_t end) {
    conv::Shape part = s;
    part.n = end - begin;
    Tensor& dw = t == 0 ? weight.grad : partial[std::size_t(t)];
    if (t > 0) dw = Tensor::uninitialized(weight.grad.shape());  // the pass overwrites it
    weights_kernel.backward_weights({part, const_cast<float*>(x_.data()) + begin * x_image, dw.data(), dy_data + begin * y_image},
                            {.threads = 1});
  });
  for (int t = 1; t < chunks; ++t)
    for (std::int64_t i = 0; i < weight.grad.size(); ++i) weight.grad[i] += partial[std::size_t(t)][i];
  const std::int64_t plane = s.p() * s.q();
  bias.grad.fill(0);
  for (std::int64_t i = 0; i < s.n * s.k; ++i) {
    double sum = 0;
    for (std::int64_t j = 0; j < plane; ++j) sum += dy[i * plane + j];
    bias.grad[i % s.k] += float(sum);
  }
  if (!ctx.input_gradient) return {};
  Tensor dx = Tensor::uninitialized(x_.shape());  // backward_data overwrites every element
  over_image_chunks(s.n, ctx.threads, [&](int, std::int64_t begin, std::int64_t end) {
    conv::Shape part = s;
    part.n = end - begin;
    kernel.backward_data({part, dx.data() + begin * x_image, weight.value.data(), dy_data + begin * y_image},
                         {.threads = 1});
  });
  return dx;
}

void Conv2d::collect_parameters(const std::string& prefix, std::vector<Parameter*>& out) {
  weight.name = prefix + "weight";
  bias.name = prefix + "bias";
  out.push_back(&weight);
  out.push_back(&bias);
}

// ---- BatchNorm -------------------------------------------------------------------------------
BatchNorm::BatchNorm(std::int64_t channels, float eps, float momentum)
    : weight{"weight", Tensor({channels}, 1.0f), Tensor({channels})},
      bias{"bias", Tensor({channels}), Tensor({channels})},
      running_mean({channels}),
      running_var({channels}, 1.0f),
      channels_(channels),
      eps_(eps),
      momentum_(momentum) {}

std::string BatchNorm::describe() const { return "BatchNorm(" + std::to_string(channels_) + ")"; }

// x is N x C or N x C x H x W: channel c of image n is the `plane` floats at (n*C + c)*plane.
// Sums run in float along each contiguous plane (vectorised) and in double across planes.
Tensor BatchNorm::forward(const Tensor& x, const Context& ctx) {
  if ((x.rank() != 2 && x.rank() != 4) || x.dim(1) != channels_)
    throw std::invalid_argument(describe() + ": expects N x " + std::to_string(channels_) + " (x H x W), got " +
                                x.shape_string());
  const std::int64_t n = x.dim(0), plane = x.rank() == 4 ? x.dim(2) * x.dim(3) : 1, count = n * plane;
  if (ctx.training && count < 2) throw std::invalid_argument(describe() + ": training needs more than one value per channel");
  Tensor y = Tensor::uninitialized(x.shape());
  x_hat_ = Tensor::uninitialized(x.shape());
  inv_std_ = Tensor({channels_});
  trained_pass_ = ctx.training;
#pragma omp parallel for num_threads(ctx.threads) if (x.size() > kParallelElements) schedule(static)
  for (std::int64_t c = 0; c < channels_; ++c) {
    double mean, var;
    if (ctx.training) {
      double sum = 0, sq = 0;
      for (std::int64_t i = 0; i < n; ++i) {
        const float* in = x.data() + (i * channels_ + c) * plane;
        float s = 0;
#pragma omp simd reduction(+ : s)
        for (std::int64_t j = 0; j < plane; ++j) s += in[j];
        sum += s;
      }
      mean = sum / double(count);
      const float m = float(mean);
      for (std::int64_t i = 0; i < n; ++i) {
        const float* in = x.data() + (i * channels_ + c) * plane;
        float s = 0;
#pragma omp simd reduction(+ : s)
        for (std::int64_t j = 0; j < plane; ++j) s += (in[j] - m) * (in[j] - m);
        sq += s;
      }
      var = sq / double(count);  // biased, for normalising; the running estimate is unbiased
      running_mean[c] = float((1 - momentum_) * running_mean[c] + momentum_ * mean);
      running_var[c] = float((1 - momentum_) * running_var[c] + momentum_ * sq / double(count - 1));
    } else {
      mean = running_mean[c];
      var = running_var[c];
    }
    const float inv_std = float(1.0 / std::sqrt(var + eps_)), m = float(mean);
    const float gamma = weight.value[c], beta = bias.value[c];
    inv_std_[c] = inv_std;
    for (std::int64_t i = 0; i < n; ++i) {
      const std::int64_t at = (i * channels_ + c) * plane;
      const float* in = x.data() + at;
      float* xh = x_hat_.data() + at;
      float* out = y.data() + at;
      for (std::int64_t j = 0; j < plane; ++j) {
        xh[j] = (in[j] - m) * inv_std;
        out[j] = gamma * xh[j] + beta;
      }
    }
  }
  return y;
}

// Training mode: dx = inv_std * (g - mean(g) - x_hat * mean(g * x_hat)), g = dy * gamma.
// Evaluation mode (fixed statistics): dx = dy * gamma * inv_std.
Tensor BatchNorm::backward(const Tensor& dy, const Context& ctx) {
  const std::int64_t n = dy.dim(0), plane = dy.rank() == 4 ? dy.dim(2) * dy.dim(3) : 1, count = n * plane;
  Tensor dx = Tensor::uninitialized(dy.shape());
#pragma omp parallel for num_threads(ctx.threads) if (dy.size() > kParallelElements) schedule(static)
  for (std::int64_t c = 0; c < channels_; ++c) {
    double sum_dy = 0, sum_dy_xhat = 0;
    for (std::int64_t i = 0; i < n; ++i) {
      const std::int64_t at = (i * channels_ + c) * plane;
      const float* g = dy.data() + at;
      const float* xh = x_hat_.data() + at;
      float s = 0, sx = 0;
#pragma omp simd reduction(+ : s, sx)
      for (std::int64_t j = 0; j < plane; ++j) {
        s += g[j];
        sx += g[j] * xh[j];
      }
      sum_dy += s;
      sum_dy_xhat += sx;
    }
    weight.grad[c] = float(sum_dy_xhat);
    bias.grad[c] = float(sum_dy);
    const float scale = weight.value[c] * inv_std_[c];
    const float mean_dy = float(sum_dy / double(count)), mean_dy_xhat = float(sum_dy_xhat / double(count));
    for (std::int64_t i = 0; i < n; ++i) {
      const std::int64_t at = (i * channels_ + c) * plane;
      const float* g = dy.data() + at;
      const float* xh = x_hat_.data() + at;
      float* out = dx.data() + at;
      if (trained_pass_)
        for (std::int64_t j = 0; j < plane; ++j) out[j] = scale * (g[j] - mean_dy - xh[j] * mean_dy_xhat);
      else
        for (std::int64_t j = 0; j < plane; ++j) out[j] = scale * g[j];
    }
  }
  return dx;
}

void BatchNorm::collect_parameters(const std::string& prefix, std::vector<Parameter*>& out) {
  weight.name = prefix + "weight";
  bias.name = prefix + "bias";
  out.push_back(&weight);
  out.push_back(&bias);
}

void BatchNorm::collect_buffers(const std::string& prefix, std::vector<Buffer>& out) {
  out.push_back({prefix + "running_mean", &running_mean});
  out.push_back({prefix + "running_var", &running_var});
}

// ---- pooling ---------------------------------------------------------------------------------
Pool2d::Pool2d(PoolKind kind, std::int64_t kernel, std::int64_t stride, std::int64_t pad)
    : kind_(kind), kernel_(kernel), stride_(stride), pad_(pad) {}

std::string Pool2d::describe() const {
  return std::string(kind_ == PoolKind::max ? "MaxPool2d(" : "AvgPool2d(") + std::to_string(kernel_) + ", stride " +
         std::to_string(stride_) + (pad_ ? ", pad " + std::to_string(pad_) : "") + ")";
}

Tensor Pool2d::forward(const Tensor& x, const Context& ctx) {
  require_rank(x, 4, describe());
  const conv::PoolShape s{.n = x.dim(0), .c = x.dim(1), .h = x.dim(2), .w = x.dim(3), .kernel_h = kernel_,
                          .kernel_w = kernel_, .stride_h = stride_, .stride_w = stride_, .pad_h = pad_, .pad_w = pad_};
  if (const std::string problem = conv::pool_problem(s); !problem.empty())
    throw std::invalid_argument(describe() + " on " + x.shape_string() + ": " + problem);
  x_shape_ = x.shape();
  Tensor y = Tensor::uninitialized({s.n, s.c, s.p(), s.q()});
  if (kind_ == PoolKind::max) {
    argmax_.resize(std::size_t(s.y_size()));
    conv::max_pool_forward(s, x.data(), y.data(), argmax_.data(), ctx.threads);
  } else {
    conv::avg_pool_forward(s, x.data(), y.data(), ctx.threads);
  }
  return y;
}

Tensor Pool2d::backward(const Tensor& dy, const Context& ctx) {
  const conv::PoolShape s{.n = x_shape_[0], .c = x_shape_[1], .h = x_shape_[2], .w = x_shape_[3], .kernel_h = kernel_,
                          .kernel_w = kernel_, .stride_h = stride_, .stride_w = stride_, .pad_h = pad_, .pad_w = pad_};
  Tensor dx = Tensor::uninitialized(x_shape_);  // both backward kernels clear dx first
  if (kind_ == PoolKind::max)
    conv::max_pool_backward(s, dy.data(), argmax_.data(), dx.data(), ctx.threads);
  else
    conv::avg_pool_backward(s, dy.data(), dx.data(), ctx.threads);
  return dx;
}

Tensor GlobalAvgPool::forward(const Tensor& x, const Context&) {
  require_rank(x, 4, "GlobalAvgPool");
  x_shape_ = x.shape();
  const std::int64_t planes = x.dim(0) * x.dim(1), plane = x.dim(2) * x.dim(3);
  Tensor y({x.dim(0), x.dim(1)});
  for (std::int64_t i = 0; i < planes; ++i) {
    double sum = 0;
    for (std::int64_t j = 0; j < plane; ++j) sum += x[i * plane + j];
    y[i] = float(sum / double(plane));
  }
  return y;
}

Tensor GlobalAvgPool::backward(const Tensor& dy, const Context&) {
  Tensor dx(x_shape_);
  const std::int64_t plane = x_shape_[2] * x_shape_[3];
  for (std::int64_t i = 0; i < dy.size(); ++i)
    for (std::int64_t j = 0; j < plane; ++j) dx[i * plane + j] = dy[i] / float(plane);
  return dx;
}

// ---- Dropout, Flatten, ChannelShuffle --------------------------------------------------------
Dropout::Dropout(float p) : p_(p) {
  if (!(p >= 0 && p < 1)) throw std::invalid_argument("Dropout: p must be in [0, 1), got " + std::to_string(p));
}
std::string Dropout::describe() const { return "Dropout(" + std::to_string(p_).substr(0, 4) + ")"; }

Tensor Dropout::forward(const Tensor& x, const Context& ctx) {
  if (!ctx.training || p_ == 0) {
    mask_ = Tensor();
    return x;
  }
  if (ctx.rng == nullptr) throw std::logic_error("Dropout: training needs a random generator in the context");
  mask_ = Tensor(x.shape());
  Tensor y(x.shape());
  std::bernoulli_distribution keep(1.0 - p_);
  const float scale = 1.0f / (1.0f - p_);
  for (std::int64_t i = 0; i < x.size(); ++i) {
    mask_[i] = keep(*ctx.rng) ? scale : 0.0f;
    y[i] = x[i] * mask_[i];
  }
  return y;
}

Tensor Dropout::backward(const Tensor& dy, const Context&) {
  if (mask_.empty()) return dy;
  Tensor dx(dy.shape());
  for (std::int64_t i = 0; i < dy.size(); ++i) dx[i] = dy[i] * mask_[i];
  return dx;
}

Tensor Flatten::forward(const Tensor& x, const Context&) {
  x_shape_ = x.shape();
  return x.view({x.dim(0), -1});
}
Tensor Flatten::backward(const Tensor& dy, const Context&) { return dy.view(x_shape_); }

std::string ChannelShuffle::describe() const { return "ChannelShuffle(" + std::to_string(groups_) + ")"; }

Tensor ChannelShuffle::forward(const Tensor& x, const Context& ctx) {
  require_rank(x, 4, describe());
  if (x.dim(1) % groups_ != 0)
    throw std::invalid_argument(describe() + ": " + std::to_string(groups_) + " groups do not divide " +
                                std::to_string(x.dim(1)) + " channels");
  Tensor y(x.shape());
  conv::channel_shuffle(x.data(), y.data(), x.dim(0), x.dim(1), x.dim(2) * x.dim(3), groups_, ctx.threads);
  return y;
}

Tensor ChannelShuffle::backward(const Tensor& dy, const Context& ctx) {
  Tensor dx(dy.shape());  // the inverse permutation: a shuffle with C/g groups
  conv::channel_shuffle(dy.data(), dx.data(), dy.dim(0), dy.dim(1), dy.dim(2) * dy.dim(3), dy.dim(1) / groups_,
                        ctx.threads);
  return dx;
}

// ---- containers ------------------------------------------------------------------------------
std::string Sequential::describe() const {
  std::string out = "Sequential(";
  for (std::size_t i = 0; i < layers.size(); ++i) out += (i ? ", " : "") + layers[i]->describe();
  return out + ")";
}

Tensor Sequential::forward(const Tensor& x, const Context& ctx) {
  Tensor h = x;
  for (ModulePtr& layer : layers) h = layer->forward(h, ctx);
  return h;
}

Tensor Sequential::backward(const Tensor& dy, const Context& ctx) {
  // Without an input gradient, the first layer with parameters is the last one to run, and it
  // need not compute its own dx.
  std::size_t stop = 0;
  if (!ctx.input_gradient)
    while (stop < layers.size() && layers[stop]->parameters().empty()) ++stop;
  Context inner = ctx;
  inner.input_gradient = true;
  Tensor g = dy;
  for (std::size_t i = layers.size(); i-- > 0;) {
    if (!ctx.input_gradient && i == stop) inner.input_gradient = false;
    g = layers[i]->backward(g, inner);
    if (!ctx.input_gradient && i == stop) return {};
  }
  return g;
}

void Sequential::collect_parameters(const std::string& prefix, std::vector<Parameter*>& out) {
  for (std::size_t i = 0; i < layers.size(); ++i) layers[i]->collect_parameters(prefix + std::to_string(i) + ".", out);
}
void Sequential::collect_buffers(const std::string& prefix, std::vector<Buffer>& out) {
  for (std::size_t i = 0; i < layers.size(); ++i) layers[i]->collect_buffers(prefix + std::to_string(i) + ".", out);
}

std::string Concat::describe() const {
  std::string out = "Concat(";
  for (std::size_t i = 0; i < branches.size(); ++i) out += (i ? " | " : "") + branches[i]->describe();
  return out + ")";
}

Tensor Concat::forward(const Tensor& x, const Context& ctx) {
  std::vector<Tensor> outs;
  widths_.clear();
  for (ModulePtr& b : branches) {
    outs.push_back(b->forward(x, ctx));
    require_rank(outs.back(), 4, "Concat branch output");
    widths_.push_back(outs.back().dim(1));
  }
  std::vector<std::int64_t> shape = outs.front().shape();
  shape[1] = 0;
  for (const Tensor& o : outs) {
    if (o.dim(0) != shape[0] || o.dim(2) != shape[2] || o.dim(3) != shape[3])
      throw std::invalid_argument("Concat: branch outputs differ in size (" + outs.front().shape_string() + " and " +
                                  o.shape_string() + ")");
    shape[1] += o.dim(1);
  }
  Tensor y(shape);
  const std::int64_t plane = shape[2] * shape[3];
  std::int64_t offset = 0;
  for (const Tensor& o : outs) {
    for (std::int64_t n = 0; n < shape[0]; ++n)
      std::copy(o.data() + n * o.dim(1) * plane, o.data() + (n + 1) * o.dim(1) * plane,
                y.data() + (n * shape[1] + offset) * plane);
    offset += o.dim(1);
  }
  return y;
}

Tensor Concat::backward(const Tensor& dy, const Context& ctx) {
  const std::int64_t n = dy.dim(0), channels = dy.dim(1), plane = dy.dim(2) * dy.dim(3);
  Tensor dx;
  std::int64_t offset = 0;
  for (std::size_t b = 0; b < branches.size(); ++b) {
    Tensor part({n, widths_[b], dy.dim(2), dy.dim(3)});
    for (std::int64_t i = 0; i < n; ++i)
      std::copy(dy.data() + (i * channels + offset) * plane, dy.data() + (i * channels + offset + widths_[b]) * plane,
                part.data() + i * widths_[b] * plane);
    offset += widths_[b];
    Tensor g = branches[b]->backward(part, ctx);
    if (dx.empty()) {
      dx = g;
    } else {
      for (std::int64_t i = 0; i < dx.size(); ++i) dx[i] += g[i];
    }
  }
  return dx;
}

void Concat::collect_parameters(const std::string& prefix, std::vector<Parameter*>& out) {
  for (std::size_t i = 0; i < branches.size(); ++i) branches[i]->collect_parameters(prefix + std::to_string(i) + ".", out);
}
void Concat::collect_buffers(const std::string& prefix, std::vector<Buffer>& out) {
  for (std::size_t i = 0; i < branches.size(); ++i) branches[i]->collect_buffers(prefix + std::to_string(i) + ".", out);
}

std::string Residual::describe() const { return "Residual(" + body_->describe() + ")"; }

Tensor Residual::forward(const Tensor& x, const Context& ctx) {
  Tensor y = body_->forward(x, ctx);
  if (!y.same_shape(x))
    throw std::invalid_argument("Residual: body maps " + x.shape_string() + " to " + y.shape_string());
  Tensor out = y.clone();
  for (std::int64_t i = 0; i < out.size(); ++i) out[i] += x[i];
  return out;
}

Tensor Residual::backward(const Tensor& dy, const Context& ctx) {
  Tensor dx = body_->backward(dy, ctx).clone();
  for (std::int64_t i = 0; i < dx.size(); ++i) dx[i] += dy[i];
  return dx;
}

void Residual::collect_parameters(const std::string& prefix, std::vector<Parameter*>& out) { body_->collect_parameters(prefix + "body.", out); }
void Residual::collect_buffers(const std::string& prefix, std::vector<Buffer>& out) { body_->collect_buffers(prefix + "body.", out); }

}  // namespace flopslab::nn
