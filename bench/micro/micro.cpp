// flopslab-micro: the registry through Google Benchmark, for people who want its tooling
// (--benchmark_filter, --benchmark_repetitions, --benchmark_format=json, compare.py).
// Every GEMM variant is checked against the float64 reference before it is timed; a wrong
// result is reported as an error, never as a time. The JSON context carries the machine.
#include <benchmark/benchmark.h>

#include <string>

#include "harness/build_info.h"
#include "harness/machine/cpu_peak.h"
#include "harness/check/gemm_check.h"
#include "harness/machine/machine.h"
#include "harness/simd_cap.h"
#include "kernels/cpu/probes/fma_chains.h"
#include "kernels/registry.h"

namespace {

using namespace flopslab;

void gemm_benchmark(benchmark::State& state, const GemmVariant* v) {
  const std::int64_t n = state.range(0);
  const RunContext ctx{.threads = static_cast<int>(state.range(1))};
  bench::GemmProblem problem({n, n, n}, 1);
  const gemm::Operands op = problem.operands();
  v->run(op, ctx);
  if (const bench::GemmCheck check = bench::check_gemm(op); !check.passed()) {
    state.SkipWithError(("wrong result: " + check.summary()).c_str());
    return;
  }
  for (auto _ : state) {
    v->run(op, ctx);
    benchmark::ClobberMemory();
  }
  state.counters["FLOPS"] = benchmark::Counter(v->flops(op.shape), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["bytes_per_second"] =
      benchmark::Counter(v->bytes(op.shape), benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1024);
}

void fma_benchmark(benchmark::State& state, const probes::FmaLoop* loop) {
  constexpr std::int64_t kIterations = 1 << 20;
  double sink = 0;
  for (auto _ : state) sink += loop->run(kIterations);
  benchmark::DoNotOptimize(sink);
  state.counters["FLOPS"] =
      benchmark::Counter(loop->flops_per_iteration() * kIterations, benchmark::Counter::kIsIterationInvariantRate);
}

}  // namespace

int main(int argc, char** argv) {
  bench::apply_simd_cap_to_peers(argv);
  const bench::MachineInfo machine = bench::describe_machine();
  for (const probes::FmaLoop& loop : probes::fma_loops())
    if (loop.supported()) benchmark::RegisterBenchmark((std::string("fma/") + loop.name).c_str(), fma_benchmark, &loop);
  for (const GemmVariant* v : gemm_variants()) {
    if (v->device != Device::cpu || !v->available()) continue;
    auto* b = benchmark::RegisterBenchmark(("gemm/" + std::string(v->name)).c_str(), gemm_benchmark, v);
    b->ArgNames({"n", "threads"})->Unit(benchmark::kMillisecond)->UseRealTime();
    for (std::int64_t n : {128, 512}) {
      b->Args({n, 1});
      if (v->multithreaded && machine.physical_cores > 1) b->Args({n, machine.physical_cores});
    }
  }
  benchmark::AddCustomContext("cpu", machine.cpu_brand);
  benchmark::AddCustomContext("simd_path", machine.simd_path);
  benchmark::AddCustomContext("physical_cores", std::to_string(machine.physical_cores));
  benchmark::AddCustomContext("flopslab_commit", build_info().git_commit);
  benchmark::AddCustomContext("compiler", std::string(build_info().compiler) + " " + build_info().cxx_flags);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
