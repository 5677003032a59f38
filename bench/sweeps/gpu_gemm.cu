// The CUDA GEMM sweep: the ladder and cuBLAS timed with events on every shape.
#include "bench/sweeps/gpu_gemm.h"

#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <string>

#include "harness/files.h"
#include "harness/machine/gpu_runtime.h"
#include "harness/gpu_counters.h"
#include "harness/gpu_tools.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/probes/gpu_probes.h"
#include "harness/format.h"

namespace flopslab::bench {
namespace {

std::string shape_text(gemm::Shape s) { return format_shape(s); }

void check_cublas(cublasStatus_t status, const char* what) {
  if (status != CUBLAS_STATUS_SUCCESS) throw std::runtime_error(std::string(what) + ": " + cublasGetStatusString(status));
}

// cuBLAS with BF16 inputs and FP32 accumulation and output, on inputs converted once up front
// (the conversion is not part of what is timed). Not a registry variant: it needs its own
// copies of A and B.
const GemmVariant kBf16Context{
    .name = "cublas-bf16",
    .device = Device::cuda,
    .role = Role::context,
    .idea = "cuBLAS with BF16 inputs (8-bit mantissas), FP32 accumulation: context, not a peer",
    .input_roundoff = 0x1p-8,
};

struct Bf16Gemm {
  cublasHandle_t handle = nullptr;
  Bf16Gemm() { check_cublas(cublasCreate(&handle), "cublasCreate"); }
  ~Bf16Gemm() { cublasDestroy(handle); }
  void run(gemm::Shape s, const void* a16, const void* b16, float* c, void* stream) {
    check_cublas(cublasSetStream(handle, static_cast<cudaStream_t>(stream)), "cublasSetStream");
    const float one = 1, zero = 0;
    check_cublas(cublasGemmEx(handle, CUBLAS_OP_N, CUBLAS_OP_N, int(s.n), int(s.m), int(s.k), &one, b16, CUDA_R_16BF,
                              int(s.n), a16, CUDA_R_16BF, int(s.k), &zero, c, CUDA_R_32F, int(s.n), CUBLAS_COMPUTE_32F,
                              CUBLAS_GEMM_DEFAULT),
                 "cublasGemmEx (bf16)");
  }
};

// FMA-bound kernel on every SM, several waves deep: the measured FP32 ceiling.
double measure_gpu_fp32_peak(const TimingOptions& timing, void* stream) {
  const GpuDevice& d = gpu_status().devices.front();
  const std::int64_t threads = std::int64_t(d.sm_count) * d.max_threads_per_sm * 4;
  constexpr int kIterations = 4096;
  DeviceBuffer out(threads * 4);
  const Timing t = measure_gpu([&](void* s) { probes::gpu::launch_fma(out.as<float>(), threads, kIterations, s); },
                               stream, timing);
  return double(threads) * kIterations * probes::gpu::kFmaChains * 2 / t.min * 1e-9;
}

}  // namespace

std::vector<const GemmVariant*> cuda_gemm_variants() {
  std::vector<const GemmVariant*> v;
  for (const GemmVariant* g : gemm_variants())
    if (g->device == Device::cuda) v.push_back(g);
  return v;
}

GemmSweepOptions default_gpu_gemm_sweep(bool quick) {
  GemmSweepOptions o;
  const std::vector<std::int64_t> sizes = quick ? std::vector<std::int64_t>{127, 256}
                                                : std::vector<std::int64_t>{1024, 2048, 4096};
  for (std::int64_t s : sizes) o.shapes.push_back({s, s, s});
  o.threads = {1};
  o.variants = cuda_gemm_variants();
  o.timing = quick ? quick_timing() : TimingOptions{};
  o.max_call_seconds = quick ? 0.5 : 2.0;
  return o;
}

std::string gpu_gemm_sweep_problem(const GemmSweepOptions& o) {
  if (!gpu_status().usable) return "no usable GPU: " + gpu_status().reason;
  const GpuMemory memory = gpu_memory();
  for (const gemm::Shape& s : o.shapes) {
    const double need = gemm::compulsory_bytes(s) + 4.0 * double(s.m) * double(s.n) + 2.0 * double(s.k) * double(s.m + s.n);
    if (need > 0.9 * double(memory.free_bytes))
      return "size " + shape_text(s) + " needs " + format_bytes(need) + " of GPU memory but only " +
             format_bytes(double(memory.free_bytes)) + " is free; choose smaller --sizes";
  }
  return {};
}

GemmSweep run_gpu_gemm_sweep(const GemmSweepOptions& o) {
  GemmSweep sweep;
  sweep.variants = o.variants;
  GpuStream stream;
  if (o.progress) o.progress("gpu: measuring the FP32 FMA peak");
  sweep.gpu_peak_gflops = measure_gpu_fp32_peak(o.timing, stream.get());
  Bf16Gemm bf16;
  const GemmVariant* reference = find_gemm_variant("cublas");

  std::vector<gemm::Shape> shapes = o.shapes;
  std::stable_sort(shapes.begin(), shapes.end(),
                   [](gemm::Shape a, gemm::Shape b) { return gemm::flop_count(a) < gemm::flop_count(b); });
  const std::int64_t l2 = gpu_status().devices.front().l2_bytes;
  int done = 0;
  const int total = int(shapes.size() * (o.variants.size() + 1));
  std::vector<std::pair<std::string_view, double>> last_rate;
  for (const gemm::Shape& shape : shapes) {
    GemmProblem host(shape, o.seed);  // packed: ld = columns
    const auto [m, n, k] = shape;
    DeviceBuffer a(m * k * 4), b(k * n * 4), c(m * n * 4), ref(m * n * 4), a16(m * k * 2), b16(k * n * 2);
    a.upload(host.a.data(), m * k * 4);
    b.upload(host.b.data(), k * n * 4);
    probes::gpu::launch_to_bf16(a.as<float>(), a16.data(), m * k, stream.get());
    probes::gpu::launch_to_bf16(b.as<float>(), b16.data(), k * n, stream.get());
    const gemm::Operands device_op{.shape = shape, .a = a.as<float>(), .lda = k, .b = b.as<float>(), .ldb = n,
                                   .c = c.as<float>(), .ldc = n};
    const RunContext ctx{.stream = stream.get()};
    std::vector<float> reference_c(static_cast<std::size_t>(m * n));
    if (reference != nullptr) {
      reference->run({.shape = shape, .a = device_op.a, .lda = k, .b = device_op.b, .ldb = n, .c = ref.as<float>(), .ldc = n}, ctx);
      stream.synchronize();
      ref.download(reference_c.data(), m * n * 4);
    }
    // Flush the L2 between timed calls when all three matrices would otherwise stay in it.
    const bool flush = gemm::compulsory_bytes(shape) < 2.0 * double(l2);

    std::vector<const GemmVariant*> variants = o.variants;
    variants.push_back(&kBf16Context);
    for (const GemmVariant* v : variants) {
      ++done;
      GemmRow row{.variant = v, .shape = shape, .threads = 1};
      auto launch = [&](void* s) {
        if (v == &kBf16Context)
          bf16.run(shape, a16.data(), b16.data(), c.as<float>(), s);
        else
          v->run(device_op, RunContext{.stream = s});
      };
      const auto known = std::find_if(last_rate.begin(), last_rate.end(), [&](auto& e) { return e.first == v->name; });
      if (known != last_rate.end() && v->flops(shape) * 1e-9 / known->second > o.max_call_seconds) {
        row.skipped = "one call would take longer than " + std::to_string(int(o.max_call_seconds)) + " s";
        sweep.rows.push_back(row);
        continue;
      }
      if (o.progress) o.progress("gpu gemm " + std::to_string(done) + "/" + std::to_string(total) + ": " +
                                 std::string(v->name) + " " + shape_text(shape));
      FLOPSLAB_CUDA_CHECK(cudaMemsetAsync(c.data(), 0xff, m * n * 4, static_cast<cudaStream_t>(stream.get())));  // NaN
      launch(stream.get());
      stream.synchronize();
      c.download(host.c.data(), m * n * 4);
      row.check = check_gemm(host.operands());
      // The float64 bound holds for FP32 inputs only; a reduced-precision row keeps its NaN count
      // and is held to cuBLAS FP32's result with a tolerance widened for its input precision.
      if (v->input_roundoff > 0) row.check = GemmCheck{.compared = row.check.compared, .non_finite = row.check.non_finite};
      const auto [atol, rtol] = gemm_tolerance(k, v->input_roundoff);
      row.vs_library = compare_to_reference(host.c.data(), n, reference_c.data(), n, m, n, atol, rtol);
      row.timing = measure_gpu(launch, stream.get(), o.timing, flush);
      // One more call under the GPU's DRAM counters, after the same flush: the measured intensity.
      if (const auto bytes = GpuCounters::instance().count(launch, stream.get(), flush))
        row.counted = CounterValues{.dram_bytes = bytes->total()};
      if (known == last_rate.end())
        last_rate.emplace_back(v->name, row.gflops());
      else
        known->second = row.gflops();
      sweep.rows.push_back(row);
    }
  }
  sweep.counters = gpu_counters_description();
  return sweep;
}

}  // namespace flopslab::bench
