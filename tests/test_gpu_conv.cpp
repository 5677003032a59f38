// The CUDA convolutions on a real GPU: every CUDA variant (own kernels and cuDNN) and pass
// against the float64 reference on the shared shape list, with the output NaN-poisoned first;
// the split-K path of the implicit GEMM on a layer large enough to take it; cuDNN's
// deterministic mode bit-identical across runs; the GPU channel shuffle's permutation.
#include <doctest/doctest.h>

#include <tuple>
#include <vector>

#include "harness/check/conv_check.h"
#include "bench/sweeps/gpu_conv.h"
#include "harness/gpu_tools.h"
#include "kernels/cuda/conv/channel_shuffle_cuda.h"
#include "kernels/registry.h"
#include "tests/conv_shapes.h"

using namespace flopslab;

namespace {

// Runs one pass of a variant on the device and returns the check of its output.
bench::GemmCheck run_on_gpu(const ConvVariant& v, const conv::Shape& s, conv::Pass pass) {
  bench::ConvProblem problem(s, 9);
  problem.poison(pass);
  bench::DeviceBuffer x(s.x_size() * 4), w(s.w_size() * 4), y(s.y_size() * 4);
  x.upload(problem.x.data(), x.bytes());
  w.upload(problem.w.data(), w.bytes());
  y.upload(problem.y.data(), y.bytes());
  v.pass(pass)({s, x.as<float>(), w.as<float>(), y.as<float>()}, RunContext{});
  bench::gpu_synchronize();
  x.download(problem.x.data(), x.bytes());
  w.download(problem.w.data(), w.bytes());
  y.download(problem.y.data(), y.bytes());
  return bench::check_conv(problem.operands(), pass, v);
}

}  // namespace

TEST_CASE("every CUDA convolution variant and pass matches the float64 reference") {
  const std::vector<const ConvVariant*> variants = bench::cuda_conv_variants();
  REQUIRE(variants.size() >= 2);
  for (const ConvVariant* v : variants)
    for (const conv::Shape& s : test::kShapes) {
      if (v->why_not(s) != nullptr) continue;
      for (conv::Pass pass : {conv::Pass::forward, conv::Pass::backward_data, conv::Pass::backward_weights}) {
        if (v->pass(pass) == nullptr) continue;
        const bench::GemmCheck check = run_on_gpu(*v, s, pass);
        INFO(v->name, " ", conv::pass_name(pass), " ", conv::describe(s), ": ", check.summary());
        CHECK(check.passed());
      }
    }
}

TEST_CASE("the implicit GEMM is right on a layer large enough to split its sums across blocks") {
  // backward_weights of a 3x3 layer over 4 x 28 x 28 pixels: 16 x 144 outputs, 3136 terms each.
  const conv::Shape s = test::shape(4, 16, 28, 28, 16, 3, 3, 1, 1, 1, 1);
  const ConvVariant& v = *find_conv_variant("cuda-implicit-gemm");
  for (conv::Pass pass : {conv::Pass::forward, conv::Pass::backward_data, conv::Pass::backward_weights}) {
    const bench::GemmCheck check = run_on_gpu(v, s, pass);
    INFO(conv::pass_name(pass), ": ", check.summary());
    CHECK(check.passed());
  }
}

TEST_CASE("the GPU channel shuffle is the permutation, float4 and scalar paths") {
  for (auto [n, c, plane, groups] : {std::tuple{2, 12, 35, 3}, std::tuple{3, 10, 16, 5}, std::tuple{1, 7, 9, 7}}) {
    const std::int64_t count = std::int64_t(n) * c * plane;
    std::vector<float> x(static_cast<std::size_t>(count)), y(x.size(), -1.0f), back(x.size(), -1.0f);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = float(i);
    bench::DeviceBuffer dx(count * 4), dy(count * 4), dback(count * 4);
    dx.upload(x.data(), count * 4);
    conv::cuda::channel_shuffle(dx.as<float>(), dy.as<float>(), n, c, plane, groups, nullptr);
    conv::cuda::channel_shuffle(dy.as<float>(), dback.as<float>(), n, c, plane, c / groups, nullptr);  // the inverse
    bench::gpu_synchronize();
    dy.download(y.data(), count * 4);
    dback.download(back.data(), count * 4);
    INFO("n ", n, " c ", c, " plane ", plane, " groups ", groups);
    CHECK(bench::is_channel_shuffle(x, y, n, c, plane, groups));
    CHECK(back == x);
  }
}

#ifdef FLOPSLAB_HAVE_CUDNN
TEST_CASE("cuDNN's deterministic mode gives the same bits on every run") {
  const bench::ConvLayer layer{"small 3x3", test::shape(2, 16, 14, 14, 16, 3, 3, 1, 1, 1, 1)};
  const bench::CudnnStudy study = bench::run_cudnn_study(layer, bench::quick_timing(), nullptr);
  REQUIRE(study.unavailable.empty());
  REQUIRE(study.passes.size() == 3);
  for (const bench::CudnnPassStudy& s : study.passes) {
    INFO(conv::pass_name(s.pass), ": deterministic mode ran ", s.fastest_deterministic);
    CHECK_FALSE(s.found.empty());
    CHECK_FALSE(s.fastest_deterministic.empty());
    CHECK(s.deterministic_reproducible);
  }
  REQUIRE(study.precisions.size() == 3);
  for (const bench::CudnnPrecisionRow& r : study.precisions) {
    INFO(r.precision, " ", r.algorithm, ": ", r.check.summary());
    CHECK(r.check.passed());
  }
}
#endif
