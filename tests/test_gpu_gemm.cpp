// The CUDA GEMM ladder on a real GPU: every variant against cuBLAS FP32 (absolute + relative
// tolerance, NaN count) and against the float64 reference, at awkward sizes, padded leading
// dimensions and k = 0; C is poisoned with NaN first and its padding must stay untouched.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "harness/check/gemm_check.h"
#include "bench/sweeps/gpu_gemm.h"
#include "harness/gpu_tools.h"
#include "kernels/registry.h"

using namespace flopslab;

namespace {

struct DeviceProblem {
  bench::GemmProblem host;
  bench::DeviceBuffer a, b, c;
  DeviceProblem(gemm::Shape s, std::int64_t pad, std::uint64_t seed)
      : host(s, seed, pad),
        a(std::max<std::int64_t>(host.a.size(), 1) * 4),
        b(std::max<std::int64_t>(host.b.size(), 1) * 4),
        c(std::max<std::int64_t>(host.c.size(), 1) * 4) {
    if (!host.a.empty()) a.upload(host.a.data(), host.a.size() * 4);
    if (!host.b.empty()) b.upload(host.b.data(), host.b.size() * 4);
  }
  gemm::Operands device_operands() {
    return {.shape = host.shape, .a = a.as<float>(), .lda = host.lda, .b = b.as<float>(), .ldb = host.ldb,
            .c = c.as<float>(), .ldc = host.ldc};
  }
  // Runs the variant into a NaN-poisoned C and brings C back to host.c.
  void run(const GemmVariant& v) {
    host.poison_c();
    if (!host.c.empty()) c.upload(host.c.data(), host.c.size() * 4);
    v.run(device_operands(), RunContext{});
    bench::gpu_synchronize();
    if (!host.c.empty()) c.download(host.c.data(), host.c.size() * 4);
  }
};

std::int64_t padding_written(const bench::GemmProblem& p) {
  std::int64_t count = 0;
  for (std::int64_t i = 0; i < p.shape.m; ++i)
    for (std::int64_t j = p.shape.n; j < p.ldc; ++j) count += std::isnan(p.c[i * p.ldc + j]) ? 0 : 1;
  return count;
}

}  // namespace

TEST_CASE("every CUDA GEMM variant matches cuBLAS and the float64 reference") {
  const GemmVariant& cublas = *find_gemm_variant("cublas");
  const std::vector<gemm::Shape> shapes = {{1, 1, 1},     {7, 7, 7},       {33, 33, 33},  {127, 127, 127}, {129, 129, 129},
                                           {1000, 1000, 1000}, {4093, 4093, 4093}, {1, 300, 7}, {300, 1, 7},
                                           {5, 3, 400},   {200, 37, 129},  {130, 260, 20}, {256, 512, 64},
                                           // step 8's split-K: few tiles, long k (5, 8 and 16 slices)
                                           {30, 20, 1500}, {100, 70, 2050}, {64, 64, 4096}};
  for (const gemm::Shape& s : shapes) {
    for (std::int64_t pad : {std::int64_t(0), std::int64_t(3)}) {
      if (pad != 0 && s.m * s.n * s.k > 200 * 200 * 200) continue;
      DeviceProblem p(s, pad, s.m * 31 + s.n * 7 + s.k);
      p.run(cublas);
      const std::vector<float> reference(p.host.c.begin(), p.host.c.end());
      CHECK(bench::check_gemm(p.host.operands()).passed());
      for (const GemmVariant* v : bench::cuda_gemm_variants()) {
        p.run(*v);
        INFO(v->name << " " << s.m << "x" << s.n << "x" << s.k << " pad " << pad);
        const auto [atol, rtol] = bench::gemm_tolerance(s.k, v->input_roundoff);
        const bench::ToleranceCheck vs = bench::compare_to_reference(p.host.c.data(), p.host.ldc, reference.data(),
                                                                     p.host.ldc, s.m, s.n, atol, rtol);
        INFO(vs.summary());
        CHECK(vs.passed());
        CHECK(vs.compared == s.m * s.n);
        CHECK(padding_written(p.host) == 0);
        if (v->input_roundoff == 0) {
          const bench::GemmCheck exact = bench::check_gemm(p.host.operands());
          INFO(exact.summary());
          CHECK(exact.passed());
        }
      }
    }
  }
}

TEST_CASE("CUDA variants: k = 0 gives zeros, empty shapes do nothing") {
  for (const GemmVariant* v : bench::cuda_gemm_variants()) {
    DeviceProblem p({9, 5, 0}, 0, 1);
    p.run(*v);
    for (float x : p.host.c) CHECK_MESSAGE(x == 0.0f, v->name);
    DeviceProblem empty({0, 5, 3}, 0, 1);
    CHECK_NOTHROW(empty.run(*v));
  }
}

TEST_CASE("a GPU allocation that cannot fit fails with the size and the free memory") {
  const bench::GpuMemory memory = bench::gpu_memory();
  CHECK(memory.total_bytes > 0);
  CHECK(memory.free_bytes <= memory.total_bytes);
  try {
    bench::DeviceBuffer too_big(memory.total_bytes * 4);
    FAIL("the allocation should have failed");
  } catch (const std::exception& e) {
    const std::string message = e.what();
    CHECK(message.find("cudaMalloc of ") == 0);
    CHECK(message.find("failed: out of memory") != std::string::npos);
    CHECK(message.find(" free of ") != std::string::npos);
  }
  bench::DeviceBuffer fine(1 << 20);  // the device still works afterwards
  CHECK(fine.data() != nullptr);
}

TEST_CASE("the GPU GEMM sweep checks, times and reports every row (quick)") {
  bench::GemmSweepOptions o = bench::default_gpu_gemm_sweep(true);
  o.shapes = {{96, 80, 40}};
  CHECK(bench::gpu_gemm_sweep_problem(o).empty());
  const bench::GemmSweep sweep = bench::run_gpu_gemm_sweep(o);
  CHECK(sweep.gpu_peak_gflops > 0);
  CHECK(sweep.all_checks_passed());
  CHECK(sweep.rows.size() == o.variants.size() + 1);  // + the BF16 context row
  for (const bench::GemmRow& r : sweep.rows) {
    CHECK(r.timing.has_value());
    CHECK(r.vs_library.has_value());
  }
  o.shapes = {{1 << 20, 1 << 20, 1}};
  CHECK(bench::gpu_gemm_sweep_problem(o).find("of GPU memory but only") != std::string::npos);
}
