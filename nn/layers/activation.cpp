// Elementwise activations. Each backward needs one tensor: the output for sigmoid and tanh
// (their derivatives are functions of it), the input for the rest.
#include <algorithm>

#include "kernels/cpu/multiversion.h"
#include "nn/layers/common.h"
#include "nn/device.h"

namespace flopslab::nn {
using namespace detail;

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

// ReLU's two loops, compiled per ISA level (nn/ is otherwise baseline x86-64: 4 floats at a
// time); threads take chunks of kChunk.
namespace {
constexpr std::int64_t kChunk = 1 << 14;
FLOPSLAB_MULTIVERSION(void, relu_chunk, (const float* __restrict in, float* __restrict out, std::int64_t n),
                      (in, out, n)) {
  for (std::int64_t i = 0; i < n; ++i) out[i] = in[i] > 0 ? in[i] : 0.0f;
}
// The same over g itself (out = g).
FLOPSLAB_MULTIVERSION(void, relu_backward_chunk_in_place, (float* g, const float* __restrict v, std::int64_t n),
                      (g, v, n)) {
  for (std::int64_t i = 0; i < n; ++i) {
    const float gi = g[i];
    g[i] = v[i] > 0 ? gi : 0.0f;
  }
}
FLOPSLAB_MULTIVERSION(void, relu_backward_chunk,
                      (const float* __restrict g, const float* __restrict v, float* __restrict out, std::int64_t n),
                      (g, v, out, n)) {
  for (std::int64_t i = 0; i < n; ++i) {
    const float gi = g[i];  // loaded either way, so the select becomes a blend, not a branch
    out[i] = v[i] > 0 ? gi : 0.0f;
  }
}
}  // namespace

// Plain loops over local pointers, one per kind, so that each vectorises (a lambda through a
// helper did not: its captured pointers were reloaded on every element).
Tensor Activation::forward(const Tensor& x, const Context& ctx) {
  if (x.on_cuda()) return forward_cuda(x, ctx);
  Tensor y = Tensor::uninitialized(x.shape());
  const float* __restrict in = x.data();
  float* __restrict out = y.data();
  const std::int64_t n = x.size();
  const float slope = slope_;
  const int threads = n > kParallelElements ? ctx.threads : 1;
  switch (kind_) {
    case ActivationKind::relu:
#pragma omp parallel for num_threads(threads) schedule(static)
      for (std::int64_t i0 = 0; i0 < n; i0 += kChunk) relu_chunk(in + i0, out + i0, std::min(kChunk, n - i0));
      break;
    case ActivationKind::leaky_relu:
#pragma omp parallel for num_threads(threads) schedule(static)
      for (std::int64_t i = 0; i < n; ++i) out[i] = in[i] > 0 ? in[i] : slope * in[i];
      break;
    case ActivationKind::relu6:
#pragma omp parallel for num_threads(threads) schedule(static)
      for (std::int64_t i = 0; i < n; ++i) out[i] = std::clamp(in[i], 0.0f, 6.0f);
      break;
    case ActivationKind::sigmoid:
#pragma omp parallel for num_threads(threads) schedule(static)
      for (std::int64_t i = 0; i < n; ++i) out[i] = 1.0f / (1.0f + std::exp(-in[i]));
      break;
    case ActivationKind::tanh:
#pragma omp parallel for num_threads(threads) schedule(static)
      for (std::int64_t i = 0; i < n; ++i) out[i] = std::tanh(in[i]);
      break;
    case ActivationKind::softplus:  // log(1 + e^x), computed without overflow
#pragma omp parallel for num_threads(threads) schedule(static)
      for (std::int64_t i = 0; i < n; ++i) out[i] = std::max(in[i], 0.0f) + std::log1p(std::exp(-std::fabs(in[i])));
      break;
  }
  saved_.save(saves_output() ? y : x, ctx.precision, ctx.threads);
  return y;
}

Tensor Activation::backward(const Tensor& dy, const Context& ctx) {
  if (dy.on_cuda()) return backward_cuda(dy, ctx);
  if (kind_ == ActivationKind::relu && !saved_.is_16bit() && ctx.dy_disposable && dy.sole_owner()) {
    // Over dy, which nothing else holds (the layer above made it for this call): each write
    // lands on a line just read, where a fresh tensor cost a 3 MB allocation and its lines'
    // reads for ownership in the CNN's first ReLU.
    Tensor dx = dy;  // the same storage
    const std::int64_t n = dx.size();
    float* g = dx.data();
    const float* v = saved_.floats();
#pragma omp parallel for num_threads(n > kParallelElements ? ctx.threads : 1) schedule(static)
    for (std::int64_t i0 = 0; i0 < n; i0 += kChunk) relu_backward_chunk_in_place(g + i0, v + i0, std::min(kChunk, n - i0));
    return dx;
  }
  Tensor dx = Tensor::uninitialized(dy.shape());
  if (saved_.is_16bit()) {
    // Expand the 16-bit copy a chunk at a time and run the float32 loop below on each chunk.
    for_chunks(dy.size(), 4096, dy.size() > kParallelElements ? ctx.threads : 1, [&](std::int64_t begin, std::int64_t end) {
      float kept[4096];
      saved_.read(begin, end - begin, kept);
      backward_range(dy.data() + begin, kept, dx.data() + begin, end - begin, 1);
    });
    return dx;
  }
  backward_range(dy.data(), saved_.floats(), dx.data(), dy.size(), dy.size() > kParallelElements ? ctx.threads : 1);
  return dx;
}

// out = dL/dx from g = dL/dy and v = the saved x (or y for sigmoid and tanh), n elements.
void Activation::backward_range(const float* __restrict g, const float* __restrict v, float* __restrict out,
                                std::int64_t n, int threads) const {
  const float slope = slope_;
  switch (kind_) {
    case ActivationKind::relu:
#pragma omp parallel for num_threads(threads) schedule(static)
      for (std::int64_t i0 = 0; i0 < n; i0 += kChunk)
        relu_backward_chunk(g + i0, v + i0, out + i0, std::min(kChunk, n - i0));
      break;
    case ActivationKind::leaky_relu:
#pragma omp parallel for num_threads(threads) schedule(static)
      for (std::int64_t i = 0; i < n; ++i) {
        const float gi = g[i];
        out[i] = v[i] > 0 ? gi : slope * gi;
      }
      break;
    case ActivationKind::relu6:
#pragma omp parallel for num_threads(threads) schedule(static)
      for (std::int64_t i = 0; i < n; ++i) {
        const float gi = g[i];
        out[i] = v[i] > 0 && v[i] < 6 ? gi : 0.0f;
      }
      break;
    case ActivationKind::sigmoid:
#pragma omp parallel for num_threads(threads) schedule(static)
      for (std::int64_t i = 0; i < n; ++i) out[i] = g[i] * v[i] * (1 - v[i]);
      break;
    case ActivationKind::tanh:
#pragma omp parallel for num_threads(threads) schedule(static)
      for (std::int64_t i = 0; i < n; ++i) out[i] = g[i] * (1 - v[i] * v[i]);
      break;
    case ActivationKind::softplus:  // d/dx log(1 + e^x) = sigmoid(x)
#pragma omp parallel for num_threads(threads) schedule(static)
      for (std::int64_t i = 0; i < n; ++i) out[i] = g[i] / (1.0f + std::exp(-v[i]));
      break;
  }
}

#ifndef FLOPSLAB_HAVE_CUDA  // the CPU-only build's stand-in of the GPU half (nn/device.h's no_cuda)
Tensor Activation::forward_cuda(const Tensor&, const Context&) { no_cuda(describe()); }
Tensor Activation::backward_cuda(const Tensor&, const Context&) { no_cuda(describe()); }
#endif

// Elementwise: placed by the bytes it moves (backward reads dy and what forward saved).
LayerCost Activation::cost(const std::vector<std::int64_t>& input, const std::vector<std::int64_t>& output,
                           bool) const {
  return data_movement_cost(element_count(input), element_count(output), 1);
}

}  // namespace flopslab::nn
