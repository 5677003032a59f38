// See fused.h. One GEMM per image and group, y_g = W_g * im2col(x_g), B read from the image
// as in step 3; the epilogue does the rest as tiles finish.
#include "kernels/cpu/conv/fused.h"


#include <algorithm>
#include <string>

#include <stdexcept>

#include "kernels/cpu/conv/conv_cpu.h"
#include "kernels/cpu/conv/direct_blocked.h"

namespace flopslab::conv::cpu {

std::string fused_conv_problem(const FusedConv& layer) {
  if (std::string problem = shape_problem(layer.shape); !problem.empty()) return problem;
  std::int64_t channels = 0;
  for (const OutputSlice& o : layer.outputs) {
    if (o.channels <= 0 || o.base == nullptr) return "an output slice with no channels or no storage";
    channels += o.channels;
  }
  if (channels != layer.shape.k)
    return "the output slices hold " + std::to_string(channels) + " channels, the layer has " +
           std::to_string(layer.shape.k);
  if (layer.weight == nullptr) return "no weights";
  return {};
}

float* channel_plane(const FusedConv& layer, std::int64_t n, std::int64_t channel) {
  const std::int64_t plane = layer.shape.p() * layer.shape.q();
  for (const OutputSlice& o : layer.outputs) {
    if (channel < o.channels) return o.base + n * o.image_stride + channel * plane;
    channel -= o.channels;
  }
  return nullptr;  // fused_conv_problem rules this out
}

namespace {
void gemm_fused_forward(const FusedConv& layer, const float* x, int threads) {
  const Shape& s = layer.shape;
  const std::int64_t Cg = s.c_per_group(), Kg = s.k_per_group(), PQ = s.p() * s.q(), taps = Cg * s.r * s.s;
  // One output slice holding whole images: the GEMM writes its planes in place. Otherwise the
  // raw sums go to a per-thread scratch (L2-sized: one image's Kg x P*Q) and the epilogue
  // stores each finished row where it belongs.
  const bool in_place = layer.outputs.size() == 1;
  const std::int64_t x_image = layer.input_image_stride > 0 ? layer.input_image_stride : s.c * s.h * s.w;
  const auto run_image = [&](std::int64_t n, int gemm_threads) {
    thread_local std::vector<float> scratch;
    thread_local std::vector<float*> rows;
    for (std::int64_t g = 0; g < s.groups; ++g) {
      gemm::packed::Epilogue e{.row_scale = layer.scale != nullptr ? layer.scale + g * Kg : nullptr,
                               .row_shift = layer.shift != nullptr ? layer.shift + g * Kg : nullptr,
                               .residual = layer.residual != nullptr
                                               ? layer.residual + n * layer.residual_image_stride + g * Kg * PQ
                                               : nullptr,
                               .ld_residual = PQ,
                               .relu = layer.relu};
      float* c = nullptr;
      if (in_place) {
        c = channel_plane(layer, n, g * Kg);
      } else {
        scratch.resize(std::size_t(Kg * PQ));
        rows.resize(std::size_t(Kg));
        for (std::int64_t k = 0; k < Kg; ++k) rows[std::size_t(k)] = channel_plane(layer, n, g * Kg + k);
        c = scratch.data();
        e.out_rows = rows.data();
      }
      gemm::packed::gemm_packed_fused({Kg, PQ, taps}, layer.weight + g * Kg * taps, taps,
                                      im2col_rows(s, x + n * x_image + g * Cg * s.h * s.w), c, PQ, e, gemm_threads);
    }
  };
  // Whole images per thread when there are enough; otherwise one image's GEMM is split only
  // when each thread's share is worth a fork and join (about 4 MFLOP, some 20 us at even a
  // modest core's rate, against a few microseconds to start and end the team).
  const double per_image = 2.0 * double(Kg * PQ * taps) * double(s.groups);
  over_images(s.n, threads, run_image, int(std::clamp<double>(per_image / double(1 << 22), 1.0, double(threads))));
}

}  // namespace

const char* technique_name(FusedTechnique t) {
  switch (t) {
    case FusedTechnique::implicit_gemm: return "implicit GEMM";
    case FusedTechnique::direct_blocked: return direct_blocked_vector_floats() == 16 ? "direct on NCHW16c" : "direct on NCHW8c";
    case FusedTechnique::depthwise: return "depthwise planes";
    case FusedTechnique::automatic: break;
  }
  return "per shape";
}

FusedTechnique choose_technique(const Shape& s) {
  if (depthwise_unsupported(s) == nullptr) return FusedTechnique::depthwise;
  if (direct_blocked_unsupported(s) != nullptr || (s.r == 1 && s.s == 1) ||
      2 * s.c_per_group() < direct_blocked_vector_floats())
    return FusedTechnique::implicit_gemm;
  return FusedTechnique::direct_blocked;
}

void fused_forward_with(FusedTechnique technique, const FusedConv& layer, const float* x, int threads) {
  if (technique == FusedTechnique::automatic) technique = choose_technique(layer.shape);
  if (technique == FusedTechnique::direct_blocked) {
    if (const char* why = direct_blocked_unsupported(layer.shape))
      throw std::invalid_argument(std::string("direct-blocked convolution: ") + why);
    direct_blocked_forward(layer, x, threads);
  } else if (technique == FusedTechnique::depthwise) {
    if (const char* why = depthwise_unsupported(layer.shape))
      throw std::invalid_argument(std::string("depthwise convolution: ") + why);
    depthwise_fused_forward(layer, x, threads);
  } else {
    gemm_fused_forward(layer, x, threads);
  }
}

void fused_forward(const FusedConv& layer, const float* x, int threads) {
  fused_forward_with(FusedTechnique::automatic, layer, x, threads);
}

}  // namespace flopslab::conv::cpu
