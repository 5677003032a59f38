// Inference fusion (nn/fuse.h): folding a batch norm into its convolution, and the fused plans
// of the cnn and inception models, against the unfused layers in evaluation mode.
#include <doctest/doctest.h>

#include <cmath>
#include <random>
#include <string>

#include "bench/training/inference_bench.h"
#include "kernels/cpu/conv/fused.h"
#include "nn/fuse.h"
#include "nn/train.h"

using namespace flopslab;

namespace {

// Batch-norm statistics and affine parameters far from their initial 0/1, so folding has
// something to fold; every other parameter as initialised.
void randomise_batch_norms(nn::Module& model, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> mean(-0.5f, 0.5f), var(0.2f, 3.0f), gamma(0.5f, 1.5f), beta(-0.3f, 0.3f);
  for (const nn::Buffer& b : model.buffers()) {
    const bool is_var = b.name.ends_with("running_var");
    for (std::int64_t i = 0; i < b.value->size(); ++i) (*b.value)[i] = is_var ? var(rng) : mean(rng);
  }
  // BatchNorm's weight and bias are the parameters of the layers whose buffers we just set.
  for (nn::Parameter* p : model.parameters()) {
    if (p->value.rank() != 1) continue;
    const std::string layer = p->name.substr(0, p->name.rfind('.'));
    bool is_bn = false;
    for (const nn::Buffer& b : model.buffers()) is_bn |= b.name.starts_with(layer + ".running");
    if (!is_bn) continue;
    for (std::int64_t i = 0; i < p->value.size(); ++i) p->value[i] = p->name.ends_with("weight") ? gamma(rng) : beta(rng);
  }
}

// max |a - b| / max |b|
double relative_difference(const nn::Tensor& a, const nn::Tensor& b) {
  double diff = 0, scale = 0;
  for (std::int64_t i = 0; i < a.size(); ++i)
    diff = std::max(diff, double(std::abs(a[i] - b[i]))), scale = std::max(scale, double(std::abs(b[i])));
  return diff / scale;
}

}  // namespace

TEST_CASE("folding a batch norm into its convolution: W' = W g, b' = (b - mean) g + beta") {
  std::mt19937_64 rng(3);
  nn::Conv2d conv(conv::Shape{.c = 3, .k = 4, .r = 3, .s = 3, .pad_h = 1, .pad_w = 1}, rng);
  nn::BatchNorm bn(4);
  for (int c = 0; c < 4; ++c) {
    bn.running_mean[c] = 0.3f * float(c) - 0.4f, bn.running_var[c] = 0.5f + float(c);
    bn.weight.value[c] = 1.5f - 0.25f * float(c), bn.bias.value[c] = 0.1f * float(c);
  }
  const nn::FoldedConv f = nn::fold_batch_norm(conv, &bn);
  for (int c = 0; c < 4; ++c) {
    const double g = bn.weight.value[c] / std::sqrt(double(bn.running_var[c]) + 1e-5);
    CHECK(f.weight[c * 27 + 5] == doctest::Approx(conv.weight.value[c * 27 + 5] * g).epsilon(1e-6));
    CHECK(f.bias[c] == doctest::Approx((conv.bias.value[c] - bn.running_mean[c]) * g + bn.bias.value[c]).epsilon(1e-6));
  }
  // Without a batch norm nothing changes.
  const nn::FoldedConv same = nn::fold_batch_norm(conv, nullptr);
  CHECK(same.weight[7] == conv.weight.value[7]);
  CHECK(same.bias[2] == conv.bias.value[2]);
}

TEST_CASE("the fused plans of cnn and inception give the unfused outputs within 1e-5") {
  for (const char* name : {"cnn", "inception"}) {
    std::mt19937_64 rng(5);
    auto model = nn::make_model(name, rng);
    randomise_batch_norms(*model, 9);
    nn::InferencePlan plan(*model);
    const nn::FusionCounts& c = plan.counts();
    if (std::string(name) == "cnn") {
      CHECK(c.folded_batch_norms == 2);
      CHECK(c.fused_epilogues == 4);  // two convolutions, two Linear layers
      CHECK(c.passes_removed == 2 * 3 + 2 + 1);
      CHECK(c.stacked_gemms == 0);
    } else {
      CHECK(c.folded_batch_norms == 10);
      CHECK(c.stacked_gemms == 1);
      CHECK(c.stacked_convolutions == 3);
      CHECK(c.concat_copies_removed == 4);
      CHECK(c.concat_copies_left == 0);
    }
    for (std::int64_t n : {1, 5}) {
      for (int threads : {1, 3}) {
        const nn::Tensor x = bench::normalised_images(n, 17);
        const nn::Tensor unfused = model->forward(x, nn::Context{.training = false, .threads = threads});
        const nn::Tensor fused = plan.forward(x, threads);
        REQUIRE(fused.same_shape(unfused));
        INFO(name, " batch ", n, " threads ", threads);
        CHECK(relative_difference(fused, unfused) < 1e-5);
        // The peer engine (oneDNN's convolution with post-ops) runs the same plan.
        if (conv::cpu::onednn_fused_unavailable() == nullptr)
          CHECK(relative_difference(plan.forward(x, threads, nn::ConvEngine::onednn), unfused) < 1e-5);
        for (const auto& e : plan.compare_steps(x, threads)) {
          INFO(e.step);
          CHECK(e.relative < 1e-5);
        }
      }
    }
  }
}

TEST_CASE("a broken fold is caught: a plan whose batch norm changed after compiling differs") {
  std::mt19937_64 rng(5);
  auto model = nn::make_model("cnn", rng);
  randomise_batch_norms(*model, 9);
  nn::InferencePlan plan(*model);
  // The plan folded the statistics it saw; change one variance and the unfused model moves.
  for (const nn::Buffer& b : model->buffers())
    if (b.name.ends_with("running_var")) (*b.value)[0] *= 4.0f;
  const auto errors = plan.compare_steps(bench::normalised_images(2, 1), 1);
  CHECK(errors.front().relative > 1e-3);
}
