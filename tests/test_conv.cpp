// Every CPU convolution variant and pass against the float64 reference on shapes that hit
// stride, padding (symmetric and not), dilation, groups, depthwise, non-square images and
// odd sizes; the checker catching a broken kernel; shape validation messages; channel
// shuffle, pooling and the low-rank factorisation against direct computations.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <numeric>
#include <array>
#include <tuple>
#include <string>
#include <vector>

#include "harness/check/conv_check.h"
#include "tests/conv_shapes.h"
#include "kernels/cpu/conv/channel_shuffle.h"
#include "kernels/cpu/conv/conv_cpu.h"
#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/conv/direct_blocked.h"
#include "kernels/cpu/conv/fused.h"
#include "kernels/cpu/conv/low_rank.h"
#include "kernels/cpu/conv/pooling.h"
#include "kernels/registry.h"

using namespace flopslab;

using test::kShapes;
using test::shape;

TEST_CASE("every CPU convolution variant and pass matches the float64 reference") {
  for (const ConvVariant* v : conv_variants()) {
    if (v->device != Device::cpu || !v->available()) continue;
    for (const conv::Shape& s : kShapes) {
      REQUIRE(conv::shape_problem(s).empty());
      if (v->why_not(s) != nullptr) continue;
      for (conv::Pass pass : {conv::Pass::forward, conv::Pass::backward_data, conv::Pass::backward_weights}) {
        if (v->pass(pass) == nullptr) continue;
        for (int threads : {1, 3}) {
          bench::ConvProblem problem(s, 5);
          problem.poison(pass);
          const conv::Operands op = problem.operands();
          v->pass(pass)(op, {.threads = threads});
          // Each variant against its own error model (Winograd's blocks and transform growth).
          const bench::GemmCheck check = bench::check_conv(op, pass, *v);
          INFO(v->name, " ", std::string(conv::pass_name(pass)), " ", conv::describe(s), " threads ", threads, ": ",
               check.summary());
          CHECK(check.passed());
          CHECK_FALSE(check.sampled);
        }
      }
    }
  }
}

// The blocked kernels (steps 6 and 7) run the widest tiles the CPU has: the test above checks
// whichever ran, this one that it was the one expected (an SVE CPU at 256 or 512 bits that
// silently ran NEON pairs would pass the reference check at half the width).
TEST_CASE("the blocked convolution kernels run the CPU's widest register tiles") {
  const CpuFeatures& f = cpu_features();
  std::string isa;
  int floats = 8;
#if defined(__aarch64__)
  const bool sve_tiles = f.can_sve() && (f.sve_bits == 256 || f.sve_bits == 512);
#else
  const bool sve_tiles = false;
#endif
  if (f.can_avx512()) isa = "AVX-512", floats = 16;
  else if (sve_tiles) isa = f.sve_bits == 512 ? "SVE-512" : "SVE-256", floats = f.sve_bits / 32;
  else if (f.neon) isa = "NEON (register pairs)";
  else if (f.can_avx2_fma()) isa = "AVX2";
  else {
    CHECK(conv::cpu::direct_blocked_vector_floats() == 0);
    return;
  }
  INFO("SIMD: ", simd_path_name(best_simd_path()), ", SVE bits ", f.sve_bits);
  CHECK(conv::cpu::direct_blocked_vector_floats() == floats);
  CHECK(conv::cpu::direct_blocked_detail().rfind(isa + ", NCHW" + std::to_string(floats) + "c:", 0) == 0);
  const ConvVariant* weight_grad = find_conv_variant("direct-dw");
  REQUIRE(weight_grad != nullptr);
  CHECK(weight_grad->detail().rfind(isa + ": C < " + std::to_string(floats) + " by rows", 0) == 0);
}

TEST_CASE("the convolution checker rejects a wrong result") {
  const conv::Shape s = shape(2, 3, 8, 8, 4, 3, 3, 1, 1, 1, 1);
  bench::ConvProblem problem(s, 3);
  const conv::Operands op = problem.operands();
  find_conv_variant("direct")->forward(op, {.threads = 1});
  REQUIRE(bench::check_conv(op, conv::Pass::forward).passed());
  SUBCASE("one element off by one filter tap's contribution") {
    // Drop the centre tap of channel 0 from y[0][0][4][4]: a bug that forgets one product.
    problem.y[4 * 8 + 4] -= problem.x[4 * 8 + 4] * problem.w[4];
    const bench::GemmCheck check = bench::check_conv(op, conv::Pass::forward);
    CHECK(check.over_bound == 1);
  }
  SUBCASE("an unwritten (NaN) element") {
    problem.y[17] = std::numeric_limits<float>::quiet_NaN();
    CHECK(bench::check_conv(op, conv::Pass::forward).non_finite == 1);
  }
  SUBCASE("large tensors are sampled, and a wrong last element is still caught") {
    problem.y.back() += 0.5f;
    const bench::GemmCheck check = bench::check_conv(op, conv::Pass::forward, 0, /*full_check_work=*/1);
    CHECK(check.sampled);
    CHECK(check.over_bound >= 1);
  }
}

TEST_CASE("the horizontal-edge filter finds the edge of the seed's 6x6 image") {
  // Dark top half, bright (10) bottom half; the filter weighs the row below minus the row above.
  std::vector<float> image(36, 0.0f), filter = {-1, -1, -1, 0, 0, 0, 1, 1, 1}, out(16, -1.0f);
  for (int i = 18; i < 36; ++i) image[i] = 10;
  const conv::Operands op{.shape = shape(1, 1, 6, 6, 1, 3, 3), .x = image.data(), .w = filter.data(), .y = out.data()};
  for (const char* name : {"direct", "im2col-gemm", "implicit-gemm"}) {
    std::fill(out.begin(), out.end(), -1.0f);
    find_conv_variant(name)->forward(op, {.threads = 1});
    INFO(name);
    CHECK(out == std::vector<float>{0, 0, 0, 0, 30, 30, 30, 30, 30, 30, 30, 30, 0, 0, 0, 0});
  }
}

TEST_CASE("convolution shapes are validated with messages that name the value") {
  CHECK(conv::shape_problem(shape(1, 6, 8, 8, 4, 3, 3, 1, 1, 0, 0, 1, 1, 4)) ==
        "groups 4 does not divide the 6 input channels");
  CHECK(conv::shape_problem(shape(1, 4, 8, 8, 6, 3, 3, 1, 1, 0, 0, 1, 1, 4)) == "groups 4 does not divide the 6 filters");
  CHECK(conv::shape_problem(shape(1, 4, 8, 8, 4, 3, 3, 0)) == "stride must be at least 1, got 0");
  CHECK(conv::shape_problem(shape(1, 4, 8, 8, 4, 3, 3, 1, 1, 0, 0, -1)) == "dilation must be at least 1, got -1");
  CHECK(conv::shape_problem(shape(1, 4, 8, 8, 4, 3, 3, 1, 1, -1)) == "padding must be 0 or more, got -1");
  CHECK(conv::shape_problem(shape(1, 1, 4, 4, 1, 3, 3, 1, 1, 0, 0, 2, 2)) ==
        "the output would be empty: a 3x3 filter with dilation 2 spans 5x5 pixels, more than the padded 4x4 input");
  CHECK(conv::shape_problem(shape(0, 1, 4, 4, 1, 1, 1)) == "batch N must be at least 1, got 0");
  // The receptive field of one dilated layer: k + (k - 1)(d - 1).
  CHECK(shape(1, 1, 9, 9, 1, 3, 3, 1, 1, 0, 0, 3, 3).extent_h() == 7);
  CHECK(shape(1, 1, 9, 9, 1, 3, 3, 1, 1, 0, 0, 3, 3).p() == 3);
}

// The transpose that the Linear layer and matmul run on their threads: large matrices split
// into 16 x 16 blocks across the threads, edges of every width, each element placed once.
TEST_CASE("transpose on 1, 2 and 3 threads places every element, at every edge") {
  // Plain names, not a structured binding: clang before 16 cannot capture one (doctest's INFO).
  for (const auto& size : {std::pair<std::int64_t, std::int64_t>{1, 1}, {17, 5}, {64, 784}, {256, 64}, {301, 197}}) {
    const std::int64_t rows = size.first, cols = size.second;
    std::vector<float> src(std::size_t(rows * cols));
    std::iota(src.begin(), src.end(), 0.0f);
    for (int threads : {1, 2, 3}) {
      std::vector<float> dst(std::size_t(rows * cols) + 16, -1.0f);
      conv::cpu::transpose(src.data(), rows, cols, dst.data(), threads);
      std::int64_t wrong = 0;
      for (std::int64_t i = 0; i < rows; ++i)
        for (std::int64_t j = 0; j < cols; ++j) wrong += dst[std::size_t(j * rows + i)] != src[std::size_t(i * cols + j)];
      INFO(rows << " x " << cols << " on " << threads << " threads");
      CHECK(wrong == 0);
      for (std::size_t e = std::size_t(rows * cols); e < dst.size(); ++e) CHECK(dst[e] == -1.0f);  // nothing past the end
    }
  }
}

TEST_CASE("channel shuffle is the g x C/g transpose, and its backward undoes it") {
  const std::array<std::array<int, 4>, 5> cases{{{3, 12, 5 * 7, 3}, {2, 6, 1, 2}, {1, 10, 9, 5}, {2, 7, 4, 1}, {2, 7, 4, 7}}};
  for (const auto& shape : cases) {
    // Plain names, not a structured binding: INFO captures them, which clang before 16 refuses.
    const int n = shape[0], c = shape[1], plane = shape[2], groups = shape[3];
    std::vector<float> x(std::size_t(n * c * plane)), y(x.size(), -1.0f), back(x.size(), -1.0f);
    std::iota(x.begin(), x.end(), 0.0f);
    conv::channel_shuffle(x.data(), y.data(), n, c, plane, groups, 2);
    for (int img = 0; img < n; ++img)
      for (int out = 0; out < c; ++out) {
        const int i = out / groups, j = out % groups;  // output channel i*g + j is input j*(C/g) + i
        const int source = j * (c / groups) + i;
        INFO("n ", n, " c ", c, " groups ", groups, " output channel ", out);
        CHECK(y[std::size_t((img * c + out) * plane)] == x[std::size_t((img * c + source) * plane)]);
        CHECK(y[std::size_t((img * c + out) * plane + plane - 1)] == x[std::size_t((img * c + source) * plane + plane - 1)]);
      }
    conv::channel_shuffle_backward(y.data(), back.data(), n, c, plane, groups, 1);
    CHECK(back == x);
  }
  CHECK(conv::channel_shuffle_problem(12, 5) == "groups 5 does not divide the 12 channels");
  CHECK(conv::channel_shuffle_problem(12, 0) == "groups must be at least 1, got 0");
}

TEST_CASE("pooling forward and backward match a direct computation") {
  const conv::PoolShape s{.n = 2, .c = 3, .h = 7, .w = 6, .kernel_h = 3, .kernel_w = 2, .stride_h = 2, .stride_w = 2,
                          .pad_h = 1, .pad_w = 1};
  REQUIRE(conv::pool_problem(s).empty());
  REQUIRE(s.p() == 4);
  REQUIRE(s.q() == 4);
  std::vector<float> x(std::size_t(s.x_size())), y(std::size_t(s.y_size())), dy(y.size()), dx(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = float((i * 7919) % 101) - 50.0f;  // distinct enough, signed
  for (std::size_t i = 0; i < dy.size(); ++i) dy[i] = float(i % 5) + 1.0f;
  std::vector<std::int32_t> argmax(y.size());
  conv::max_pool_forward(s, x.data(), y.data(), argmax.data(), 2);
  std::vector<double> expect_dx(x.size(), 0.0), expect_avg_dx(x.size(), 0.0);
  std::vector<float> avg(y.size());
  conv::avg_pool_forward(s, x.data(), avg.data(), 2);
  for (std::int64_t plane = 0; plane < s.n * s.c; ++plane)
    for (std::int64_t p = 0; p < s.p(); ++p)
      for (std::int64_t q = 0; q < s.q(); ++q) {
        double best = -1e30, sum = 0;
        std::int64_t where = -1;
        for (std::int64_t i = 0; i < s.kernel_h; ++i)
          for (std::int64_t j = 0; j < s.kernel_w; ++j) {
            const std::int64_t h = p * s.stride_h - s.pad_h + i, w = q * s.stride_w - s.pad_w + j;
            if (h < 0 || h >= s.h || w < 0 || w >= s.w) continue;
            const double v = x[std::size_t(plane * s.h * s.w + h * s.w + w)];
            sum += v;
            if (v > best) best = v, where = h * s.w + w;
          }
        const std::size_t o = std::size_t((plane * s.p() + p) * s.q() + q);
        CHECK(y[o] == float(best));
        CHECK(argmax[o] == where);
        CHECK(avg[o] == doctest::Approx(sum / 6).epsilon(1e-6));
        expect_dx[std::size_t(plane * s.h * s.w + where)] += dy[o];
        for (std::int64_t i = 0; i < s.kernel_h; ++i)
          for (std::int64_t j = 0; j < s.kernel_w; ++j) {
            const std::int64_t h = p * s.stride_h - s.pad_h + i, w = q * s.stride_w - s.pad_w + j;
            if (h >= 0 && h < s.h && w >= 0 && w < s.w) expect_avg_dx[std::size_t(plane * s.h * s.w + h * s.w + w)] += dy[o] / 6.0;
          }
      }
  conv::max_pool_backward(s, dy.data(), argmax.data(), dx.data(), 2);
  for (std::size_t i = 0; i < dx.size(); ++i) CHECK(dx[i] == float(expect_dx[i]));
  conv::avg_pool_backward(s, dy.data(), dx.data(), 2);
  for (std::size_t i = 0; i < dx.size(); ++i) CHECK(dx[i] == doctest::Approx(expect_avg_dx[i]).epsilon(1e-6));
  CHECK(conv::pool_problem({.h = 4, .w = 4, .kernel_h = 2, .kernel_w = 2, .pad_h = 2}) ==
        "padding 2 is more than half the kernel");
  CHECK(conv::pool_problem({.h = 1, .w = 1, .kernel_h = 3, .kernel_w = 3, .stride_h = 1, .stride_w = 1}) ==
        "the output would be empty: a 3x3 window does not fit in the padded 1x1 input");
}

TEST_CASE("2x2 max pooling (its fast path): ties go to the first, a NaN wins, odd sizes drop the edge") {
  const conv::PoolShape s{.n = 1, .c = 2, .h = 5, .w = 5};  // 2x2, stride 2: 2x2 outputs per plane
  std::vector<float> x(50);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = float(i % 7);
  x[0] = 9, x[1] = 9;               // a tie in window (0, 0): the first
  x[25 + 7] = std::nanf("");        // plane 1, window (0, 1) holds a NaN at (1, 2)
  x[25 + 8] = 100;                  // ... and a larger number after it
  x[25 + 1] = std::nanf("");        // plane 1, window (0, 0): two NaNs, the first (0, 1) wins
  x[25 + 6] = std::nanf("");
  x[12] = 20, x[17] = 20;           // plane 0, window (1, 1): a tie between its rows
  x[15] = 30, x[16] = 30;           // plane 0, window (1, 0): a tie within its bottom row
  std::vector<float> y(8);
  std::vector<std::int32_t> argmax(8);
  conv::max_pool_forward(s, x.data(), y.data(), argmax.data(), 2);
  CHECK(y[0] == 9);
  CHECK(argmax[0] == 0);
  CHECK(std::isnan(y[5]));
  CHECK(argmax[5] == 7);
  CHECK(std::isnan(y[4]));
  CHECK(argmax[4] == 1);
  CHECK(argmax[3] == 12);
  CHECK(argmax[2] == 15);
  for (int plane = 0; plane < 2; ++plane)
    for (int p = 0; p < 2; ++p)
      for (int q = 0; q < 2; ++q) {
        const int o = plane * 4 + p * 2 + q;
        if (o == 0 || o == 4 || o == 5) continue;
        float best = -1;
        int where = -1;
        for (int i = 0; i < 2; ++i)
          for (int j = 0; j < 2; ++j)
            if (x[std::size_t(plane * 25 + (2 * p + i) * 5 + 2 * q + j)] > best)
              best = x[std::size_t(plane * 25 + (2 * p + i) * 5 + 2 * q + j)], where = (2 * p + i) * 5 + 2 * q + j;
        CHECK(y[std::size_t(o)] == best);
        CHECK(argmax[std::size_t(o)] == where);
      }
  // Evaluation's path (no argmax) gives the same maxima, the NaN included, on any width.
  for (std::int64_t w : {5, 37, 70}) {
    const conv::PoolShape e{.n = 2, .c = 3, .h = 6, .w = w};
    std::vector<float> in(std::size_t(e.x_size()));
    for (std::size_t i = 0; i < in.size(); ++i) in[i] = float((i * 7919) % 23) - 11;
    in[std::size_t(w + 3)] = std::nanf("");
    in[std::size_t(w + 2)] = std::numeric_limits<float>::infinity();  // a NaN beats +inf too
    std::vector<float> with(std::size_t(e.y_size())), without(std::size_t(e.y_size()));
    std::vector<std::int32_t> where(std::size_t(e.y_size()));
    conv::max_pool_forward(e, in.data(), with.data(), where.data(), 2);
    conv::max_pool_forward(e, in.data(), without.data(), nullptr, 2);
    INFO("width ", w);
    CHECK(std::isnan(without[1]));
    CHECK(where[1] == w + 3);  // the NaN, not the +inf before it
    for (std::int64_t plane = 0; plane < e.n * e.c; ++plane)  // every other window: the first maximum
      for (std::int64_t p = 0; p < e.p(); ++p)
        for (std::int64_t q = 0; q < e.q(); ++q) {
          if (plane == 0 && p == 0 && q == 1) continue;
          float best = -1e30f;
          std::int64_t at = -1;
          for (std::int64_t i = 0; i < 2; ++i)
            for (std::int64_t j = 0; j < 2; ++j) {
              const std::int64_t h = 2 * p + i, col = 2 * q + j;
              if (in[std::size_t(plane * e.h * w + h * w + col)] > best)
                best = in[std::size_t(plane * e.h * w + h * w + col)], at = h * w + col;
            }
          CHECK(where[std::size_t((plane * e.p() + p) * e.q() + q)] == at);
        }
    for (std::size_t i = 0; i < with.size(); ++i)
      if (!std::isnan(with[i])) CHECK(without[i] == with[i]);
      else CHECK(std::isnan(without[i]));
  }
  // Backward: each dy at its window's maximum, zeros everywhere else (the odd last row and
  // column that no window reads included), over whatever dx held; a -0 gradient lands as +0.
  // Against a scatter into zeros, on odd and even sizes.
  for (const conv::PoolShape& b : {conv::PoolShape{.n = 2, .c = 3, .h = 5, .w = 7},
                                   conv::PoolShape{.n = 1, .c = 2, .h = 6, .w = 4},
                                   conv::PoolShape{.n = 1, .c = 1, .h = 9, .w = 36}}) {
    std::vector<float> in(std::size_t(b.x_size())), out(std::size_t(b.y_size())), dy(out.size());
    for (std::size_t i = 0; i < in.size(); ++i) in[i] = float((i * 7919) % 13);  // ties in many windows
    for (std::size_t i = 0; i < dy.size(); ++i) dy[i] = float(i % 9) - 4.0f;
    dy[1] = -0.0f;
    std::vector<std::int32_t> where(out.size());
    conv::max_pool_forward(b, in.data(), out.data(), where.data(), 2);
    std::vector<float> expect(in.size(), 0.0f), dx(in.size(), std::nanf(""));
    for (std::int64_t plane = 0; plane < b.n * b.c; ++plane)
      for (std::int64_t o = 0; o < b.p() * b.q(); ++o)
        expect[std::size_t(plane * b.h * b.w + where[std::size_t(plane * b.p() * b.q() + o)])] +=
            dy[std::size_t(plane * b.p() * b.q() + o)];
    conv::max_pool_backward(b, dy.data(), where.data(), dx.data(), 2);
    INFO(b.h, "x", b.w);
    for (std::size_t i = 0; i < dx.size(); ++i) {
      CHECK(dx[i] == expect[i]);
      CHECK(std::signbit(dx[i]) == std::signbit(expect[i]));
    }
  }
}

TEST_CASE("the low-rank factorisation of a 7x7 filter") {
  SUBCASE("a Gaussian is separable: rank 1 is exact, and 1x7 then 7x1 reproduces the 7x7") {
    const std::vector<double> g = conv::gaussian_filter(7, 1.5);
    const conv::FilterSvd svd = conv::filter_svd(g, 7, 7);
    CHECK(svd.relative_error(1) < 1e-12);
    const std::vector<double> col = svd.column_filter(), row = svd.row_filter();
    // Run the chain through the convolution kernels: an impulse image gives back the filter.
    std::vector<float> impulse(13 * 13, 0.0f), mid(13 * 13), out(13 * 13);
    impulse[6 * 13 + 6] = 1;
    std::vector<float> row_f(row.begin(), row.end()), col_f(col.begin(), col.end());
    const ConvVariant& direct = *find_conv_variant("direct");
    direct.forward({.shape = shape(1, 1, 13, 13, 1, 1, 7, 1, 1, 0, 3), .x = impulse.data(), .w = row_f.data(), .y = mid.data()}, {});
    direct.forward({.shape = shape(1, 1, 13, 13, 1, 7, 1, 1, 1, 3, 0), .x = mid.data(), .w = col_f.data(), .y = out.data()}, {});
    for (int i = 0; i < 7; ++i)
      for (int j = 0; j < 7; ++j)  // cross-correlation of an impulse yields the filter flipped
        CHECK(out[(9 - i) * 13 + (9 - j)] == doctest::Approx(g[i * 7 + j]).epsilon(1e-5));
  }
  SUBCASE("a rotated Gabor filter is not separable; full rank reconstructs it exactly") {
    const std::vector<double> gabor = conv::gabor_filter(7, 0.6, 4.0, 1.8);
    const conv::FilterSvd svd = conv::filter_svd(gabor, 7, 7);
    CHECK(svd.relative_error(1) > 0.05);
    for (int r = 1; r < 7; ++r) CHECK(svd.relative_error(r + 1) <= svd.relative_error(r));
    const std::vector<double> full = svd.approximate(7);
    for (std::size_t i = 0; i < full.size(); ++i) CHECK(full[i] == doctest::Approx(gabor[i]).epsilon(1e-9));
    for (std::size_t i = 1; i < svd.sigma.size(); ++i) CHECK(svd.sigma[i] <= svd.sigma[i - 1]);
  }
  SUBCASE("rectangular matrices and the error against a direct residual") {
    const std::vector<double> m = {3, 1, 2, -1, 0, 4, 2, 2, 1, 5, -3, 0};  // 3 x 4
    const conv::FilterSvd svd = conv::filter_svd(m, 3, 4);
    REQUIRE(svd.sigma.size() == 3);
    const std::vector<double> r2 = svd.approximate(2);
    double residual = 0, total = 0;
    for (std::size_t i = 0; i < m.size(); ++i) residual += (m[i] - r2[i]) * (m[i] - r2[i]), total += m[i] * m[i];
    CHECK(svd.relative_error(2) == doctest::Approx(std::sqrt(residual / total)).epsilon(1e-9));
  }
}

TEST_CASE("the fused forward (scale, shift, residual, ReLU in the GEMM's epilogue) matches the float64 reference") {
  using conv::cpu::FusedTechnique;
  for (const conv::Shape& s : kShapes)
  for (FusedTechnique technique : {FusedTechnique::implicit_gemm, FusedTechnique::direct_blocked, FusedTechnique::depthwise}) {
    if (technique == FusedTechnique::direct_blocked && conv::cpu::direct_blocked_unsupported(s) != nullptr) continue;
    if (technique == FusedTechnique::depthwise && conv::cpu::depthwise_unsupported(s) != nullptr) continue;
    for (int threads : {1, 3}) {
      bench::ConvProblem problem(s, 7);
      const conv::Operands op = problem.operands();
      const std::int64_t K = s.k, PQ = s.p() * s.q();
      std::vector<float> scale(static_cast<std::size_t>(K)), shift(static_cast<std::size_t>(K)),
          residual(static_cast<std::size_t>(s.y_size()));
      for (std::int64_t k = 0; k < K; ++k) {
        scale[std::size_t(k)] = 0.5f + 0.25f * float(k % 5);
        shift[std::size_t(k)] = 0.1f * float(k % 7) - 0.3f;
      }
      for (std::size_t i = 0; i < residual.size(); ++i) residual[i] = 0.01f * float(int(i % 41) - 20);
      // Layouts: the whole output in place; a channel slice of a wider concatenation (2
      // channels before, 3 after); the channels split between two tensors (stacked branches).
      for (int layout : {0, 1, 2}) {
        if (layout == 2 && K < 2) continue;
        const std::int64_t before = layout == 1 ? 2 : 0, wide = layout == 1 ? K + 5 : K;
        std::vector<float> out(std::size_t(s.n * wide * PQ), -1234.5f), second(std::size_t(s.n * K * PQ), -1234.5f);
        conv::cpu::FusedConv layer{.shape = s, .weight = op.w, .scale = scale.data(), .shift = shift.data(),
                                   .residual = residual.data(), .residual_image_stride = K * PQ, .relu = true};
        const std::int64_t first = layout == 2 ? (K + 1) / 2 : K;
        layer.outputs.push_back({first, out.data() + before * PQ, wide * PQ});
        if (layout == 2) layer.outputs.push_back({K - first, second.data(), (K - first) * PQ});
        REQUIRE(conv::cpu::fused_conv_problem(layer).empty());
        conv::cpu::fused_forward_with(technique, layer, op.x, threads);
        std::int64_t bad = 0, outside = 0;
        for (std::int64_t n = 0; n < s.n; ++n)
          for (std::int64_t k = 0; k < K; ++k)
            for (std::int64_t j = 0; j < PQ; ++j) {
              const std::int64_t index = (n * K + k) * PQ + j;
              const bench::ReferenceElement ref = bench::conv_reference_element(op, conv::Pass::forward, index);
              const double pre = ref.value * scale[std::size_t(k)] + shift[std::size_t(k)] + residual[std::size_t(index)];
              const double want = std::max(pre, 0.0);
              const float got = k < first ? out[std::size_t((n * wide + before + k) * PQ + j)]
                                          : second[std::size_t((n * (K - first) + k - first) * PQ + j)];
              const double bound = double(ref.terms + 2) * 0x1p-24 * ref.magnitude * scale[std::size_t(k)] +
                                   4 * 0x1p-24 * (std::abs(pre) + 1);
              bad += !(std::abs(got - want) <= bound);
            }
        for (std::int64_t n = 0; n < s.n; ++n)  // the concatenation's other channels are untouched
          for (std::int64_t c = 0; c < wide; ++c)
            if (c < before || c >= before + first)
              for (std::int64_t j = 0; j < PQ; ++j) outside += out[std::size_t((n * wide + c) * PQ + j)] != -1234.5f;
        INFO(conv::describe(s), " ", conv::cpu::technique_name(technique), " threads ", threads, " layout ", layout);
        CHECK(bad == 0);
        CHECK(outside == 0);
      }
    }
  }
  conv::cpu::FusedConv wrong{.shape = shape(1, 2, 4, 4, 3, 3, 3), .weight = nullptr};
  std::vector<float> y(64);
  wrong.outputs.push_back({2, y.data(), 32});
  CHECK(conv::cpu::fused_conv_problem(wrong) == "the output slices hold 2 channels, the layer has 3");
}

TEST_CASE("Winograd's error follows its output block's largest magnitude: one input channel, every output checked") {
  // A 4x4 block of outputs comes from one 6x6 input tile through the transforms, so an output
  // whose own receptive field is small (a border, near-zero inputs) still carries the tile's
  // rounding. Checked against its own magnitude, such outputs exceeded the bound (a user's
  // 64x1x28x28 layer failed 62 of 802816); against the block's, none does.
  const ConvVariant& f4 = *find_conv_variant("winograd-4x4");
  const ConvVariant& f2 = *find_conv_variant("winograd-2x2");
  CHECK(f4.error_block == 4);
  CHECK(f2.error_block == 2);
  for (const conv::Shape& s : {shape(64, 1, 28, 28, 16, 3, 3, 1, 1, 1, 1), shape(8, 1, 30, 27, 8, 3, 3, 1, 1, 1, 1)}) {
    bench::ConvProblem problem(s, 1);  // the sweep's seed for its first layer
    problem.poison(conv::Pass::forward);
    const conv::Operands op = problem.operands();
    for (const ConvVariant* v : {&f2, &f4}) {
      v->forward(op, {.threads = 2});
      const bench::GemmCheck block = bench::check_conv(op, conv::Pass::forward, *v);
      INFO(v->name, " ", conv::describe(s), ": ", block.summary());
      CHECK(block.passed());
      CHECK_FALSE(block.sampled);
      // The same outputs against their own magnitudes: F(4x4)'s worst is several times its
      // block-bounded figure, and on the 28x28 layer over the bound.
      const bench::GemmCheck own =
          bench::check_conv(op, conv::Pass::forward, v->input_roundoff, std::int64_t(1) << 26, 11, 1);
      MESSAGE(v->name, " ", conv::describe(s), ": worst ", own.worst, " of the bound against its own magnitude, ",
              block.worst, " against its block's");
      if (v == &f4 && s.h == 28) CHECK(own.over_bound > 0);
    }
  }
}

TEST_CASE("Winograd's rounding error grows with the tile: direct < F(2x2,3x3) < F(4x4,3x3), each inside its bound") {
  // max |y - y_ref| / magnitude over every output, magnitude = sum |w x| of the element's terms.
  const auto error_of = [](const ConvVariant& v, const conv::Shape& s) {
    bench::ConvProblem problem(s, 3);
    const conv::Operands op = problem.operands();
    v.forward(op, {.threads = 2});
    double worst = 0;
    for (std::int64_t i = 0; i < s.y_size(); ++i) {
      const bench::ReferenceElement ref = bench::conv_reference_element(op, conv::Pass::forward, i);
      worst = std::max(worst, std::abs(double(op.y[i]) - ref.value) / ref.magnitude);
    }
    return worst;
  };
  const conv::Shape s = shape(2, 48, 14, 14, 40, 3, 3, 1, 1, 1, 1);
  const ConvVariant& direct = *find_conv_variant("batched");
  const ConvVariant& f2 = *find_conv_variant("winograd-2x2");
  const ConvVariant& f4 = *find_conv_variant("winograd-4x4");
  const double e_direct = error_of(direct, s), e2 = error_of(f2, s), e4 = error_of(f4, s);
  MESSAGE("relative error: direct ", e_direct, ", F(2x2,3x3) ", e2, ", F(4x4,3x3) ", e4);
  CHECK(e_direct < e4);
  CHECK(e2 < e4);
  // Each within the bound its descriptor declares (ConvVariant::input_roundoff's 2u_in term).
  CHECK(e2 <= 2 * f2.input_roundoff + 434 * 0x1p-24);
  CHECK(e4 <= 2 * f4.input_roundoff + 434 * 0x1p-24);
}
