// flopslab-tune-warptiling: times step 7's kernel (kernels/cuda/gemm/warptiling.cuh) at several
// tile shapes against cuBLAS FP32, each checked against cuBLAS's result first. Run it on the
// GPU step 7 should be tuned for; the fastest shape is what 07_warptiling.cu launches.
//   flopslab-tune-warptiling [N]     (default 4096: N x N x N)
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "harness/check/gemm_check.h"
#include "harness/machine/gpu_runtime.h"
#include "harness/gpu_tools.h"
#include "kernels/cuda/gemm/warptiling.cuh"

using namespace flopslab;

int main(int argc, char** argv) {
  if (!bench::gpu_status().usable) {
    std::fprintf(stderr, "flopslab-tune-warptiling: no usable GPU: %s\n", bench::gpu_status().reason.c_str());
    return 2;
  }
  const std::int64_t n = argc > 1 ? std::atoll(argv[1]) : 4096;
  const gemm::Shape shape{n, n, n};
  bench::GemmProblem host(shape, 1);
  bench::DeviceBuffer a(n * n * 4), b(n * n * 4), c(n * n * 4);
  a.upload(host.a.data(), n * n * 4);
  b.upload(host.b.data(), n * n * 4);
  bench::GpuStream stream;
  const gemm::Operands op{.shape = shape, .a = a.as<float>(), .lda = n, .b = b.as<float>(), .ldb = n, .c = c.as<float>(), .ldc = n};
  using Launch = std::function<void(void*)>;
  namespace w = gemm::cuda::warptiling;
  auto s = [](void* p) { return static_cast<cudaStream_t>(p); };
  const std::vector<std::pair<std::string, Launch>> candidates = {
      {"cublas", [&](void* st) { find_gemm_variant("cublas")->run(op, RunContext{.stream = st}); }},
      {"128t 128x128x16 w64x64 4x(8x4)", [&](void* st) { w::launch<128, 128, 128, 16, 64, 64, 4, 8, 4>(op, s(st)); }},
      {"128t 128x128x8  w64x64 4x(8x4)", [&](void* st) { w::launch<128, 128, 128, 8, 64, 64, 4, 8, 4>(op, s(st)); }},
      {"128t 128x128x32 w64x64 4x(8x4)", [&](void* st) { w::launch<128, 128, 128, 32, 64, 64, 4, 8, 4>(op, s(st)); }},
      {"128t 128x128x16 w64x64 2x(8x8)", [&](void* st) { w::launch<128, 128, 128, 16, 64, 64, 2, 8, 8>(op, s(st)); }},
      {"256t 128x128x16 w32x64 2x(8x4)", [&](void* st) { w::launch<256, 128, 128, 16, 32, 64, 2, 8, 4>(op, s(st)); }},
      {"256t 128x128x8  w32x64 2x(8x4)", [&](void* st) { w::launch<256, 128, 128, 8, 32, 64, 2, 8, 4>(op, s(st)); }},
      {"256t 128x256x16 w64x64 4x(8x4)", [&](void* st) { w::launch<256, 128, 256, 16, 64, 64, 4, 8, 4>(op, s(st)); }},
      {"256t 256x128x16 w64x64 4x(8x4)", [&](void* st) { w::launch<256, 256, 128, 16, 64, 64, 4, 8, 4>(op, s(st)); }},
  };
  std::vector<float> reference(static_cast<std::size_t>(n * n));
  double cublas = 0;
  std::printf("%-34s %10s %10s  %s\n", "tile shape", "GFLOP/s", "of cuBLAS", "check");
  for (const auto& [name, launch] : candidates) {
    launch(stream.get());
    stream.synchronize();
    c.download(host.c.data(), n * n * 4);
    if (name == "cublas") reference.assign(host.c.begin(), host.c.end());
    const auto [atol, rtol] = bench::gemm_tolerance(n, 0);
    const bench::ToleranceCheck check = bench::compare_to_reference(host.c.data(), n, reference.data(), n, n, n, atol, rtol);
    const bench::Timing t = bench::measure_gpu(launch, stream.get(), bench::TimingOptions{});
    const double gflops = gemm::flop_count(shape) / t.median * 1e-9;
    if (name == "cublas") cublas = gflops;
    std::printf("%-34s %10.0f %9.1f%%  %s\n", name.c_str(), gflops, 100 * gflops / cublas, check.passed() ? "ok" : check.summary().c_str());
  }
  return 0;
}
