// Lesson 07: GEMM on the GPU. The CUDA ladder against cuBLAS, next to the ladder Simon Boehm
// measured on an A6000 (2022). Without a GPU it says so and shows the CPU's best GEMM.
#include <cmath>

#include <fmt/format.h>

#include "bench/sweeps/gemm_sweep.h"
#include "bench/sweeps/gpu_gemm.h"
#include "harness/machine/gpu_runtime.h"
#include "lessons/frame.h"
#include "bench/sweeps/variant_table.h"

namespace flopslab::lessons {

int run_lesson_07(const LessonOptions& options) {
  LessonRun lesson(7, "GEMM on the GPU");
  const bench::GpuStatus& gpu = bench::gpu_status();
  if (!gpu.usable) {
    lesson.say(fmt::format("No usable GPU here ({}), so this runs the CPU half: the CPU's best GEMM, which the GPU "
                           "ladder is compared with.",
                           gpu.reason));
    bench::GemmSweepOptions o = bench::default_gemm_sweep(options.threads > 0 ? options.threads : 2, options.quick);
    o.shapes = {{options.quick ? 256 : 1024, options.quick ? 256 : 1024, options.quick ? 256 : 1024}};
    o.variants = {find_gemm_variant("openmp"), find_gemm_variant("onednn")};
    o.progress = lesson.progress_callback();
    const bench::GemmSweep sweep = bench::run_gemm_sweep(o);
    lesson.show(bench::gemm_sweep_table(sweep));
    lesson.check(sweep.all_checks_passed(), "the CPU results matched the float64 reference");
    return lesson.finish("the CPU side measured; run this on a machine with an NVIDIA GPU for the ladder.");
  }
  const std::int64_t n = options.quick ? 512 : 4096;
  bench::GemmSweepOptions o = bench::default_gpu_gemm_sweep(options.quick);
  o.shapes = {{n, n, n}};
  o.progress = lesson.progress_callback();
  const bench::GemmSweep sweep = bench::run_gpu_gemm_sweep(o);
  lesson.show(bench::gemm_variant_table(sweep.variants));
  lesson.show(bench::gemm_sweep_table(sweep));
  for (const std::string& line : bench::gemm_sweep_headlines(sweep)) lesson.say(line);

  auto rate = [&](const char* name) {
    const bench::GemmRow* r = sweep.find(name, {n, n, n}, 1);
    return r != nullptr && r->timing ? r->gflops() : std::nan("");
  };
  const double cublas = rate("cublas");
  struct Rung {
    const char* name;
    double boehm;  // fraction of cuBLAS in Boehm's post, 4096^2 on an A6000
  };
  for (const Rung r : {Rung{"cuda-naive", 0.013}, Rung{"cuda-coalesced", 0.085}, Rung{"cuda-shared-tiles", 0.128},
                       Rung{"cuda-blocktile-1d", 0.365}, Rung{"cuda-blocktile-2d", 0.687}, Rung{"cuda-vectorized", 0.784},
                       Rung{"cuda-warptiling", 0.937}})
    lesson.compare(fmt::format("{}, fraction of cuBLAS", r.name), r.boehm, "Boehm 2022, A6000", rate(r.name) / cublas, "%");

  lesson.check(sweep.all_checks_passed(), "every rung matched cuBLAS FP32 within tolerance, with no NaN");
  lesson.check(rate("cuda-coalesced") >= 3 * rate("cuda-naive"),
               fmt::format("coalescing made the kernel at least 3x faster ({:.1f}x)", rate("cuda-coalesced") / rate("cuda-naive")));
  lesson.check(rate("cuda-blocktile-2d") >= 1.5 * rate("cuda-shared-tiles"),
               fmt::format("2D register blocking ran at least 1.5x the shared-tile kernel ({:.1f}x)",
                           rate("cuda-blocktile-2d") / rate("cuda-shared-tiles")));
  lesson.check(rate("cuda-warptiling") >= 0.5 * cublas,
               fmt::format("the top rung reached at least half of cuBLAS ({:.0f}%)", 100 * rate("cuda-warptiling") / cublas));
  return lesson.finish(fmt::format(
      "from {:.0f} to {:.0f} GFLOP/s by feeding the same FMAs from coalesced loads, shared memory and registers; "
      "cuBLAS FP32 reaches {:.0f}, and tensor cores at lower precision go far beyond.",
      rate("cuda-naive"), rate("cuda-warptiling"), cublas));
}

}  // namespace flopslab::lessons
