// Lesson 09: convolution. The seed's edge filter on a 6x6 image, the receptive field of a
// dilated filter, and one ResNet-like layer computed three ways (direct, im2col + GEMM,
// implicit GEMM) next to oneDNN, every result checked against the float64 reference; on a GPU,
// the same layer through our CUDA implicit GEMM and cuDNN, and cuDNN's algorithm menu with its
// benchmark and deterministic modes.
#include <cmath>

#include <fmt/format.h>

#include "bench/sweeps/conv_sweep.h"
#include "harness/files.h"
#include "bench/sweeps/gpu_conv.h"
#include "harness/machine/gpu_runtime.h"
#include "lessons/frame.h"
#include "lessons/roofline_lines.h"
#include "harness/format.h"

namespace flopslab::lessons {

int run_lesson_09(const LessonOptions& options) {
  LessonRun lesson(9, "Convolution");
  const int threads = lesson_threads(options);

  // 1. The seed's example: dark top half, bright bottom half, a horizontal-edge filter.
  std::vector<float> image(36, 0.0f), filter = {-1, -1, -1, 0, 0, 0, 1, 1, 1}, edges(16, 0.0f);
  for (int i = 18; i < 36; ++i) image[i] = 10;
  find_conv_variant("direct")->forward(
      {.shape = {.h = 6, .w = 6, .r = 3, .s = 3}, .x = image.data(), .w = filter.data(), .y = edges.data()}, {});
  lesson.say("A 6x6 image, rows 0-2 at 0 and rows 3-5 at 10, filtered with rows (-1 -1 -1; 0 0 0; 1 1 1):");
  for (int p = 0; p < 4; ++p)
    lesson.say(fmt::format("  [{:3.0f} {:3.0f} {:3.0f} {:3.0f}]", edges[p * 4], edges[p * 4 + 1], edges[p * 4 + 2],
                           edges[p * 4 + 3]));
  const bool edge_ok = edges == std::vector<float>{0, 0, 0, 0, 30, 30, 30, 30, 30, 30, 30, 30, 0, 0, 0, 0};
  lesson.say("Deep-learning \"convolution\" is cross-correlation: the filter is not flipped. The textbook filter\n"
             "(1 1 1; 0 0 0; -1 -1 -1) flipped is the one above.");

  // 2. Receptive field of one dilated layer: r + (r - 1)(d - 1).
  bench::Table field({{"filter"}, {"dilation"}, {"spans (pixels)"}, {"output of a 32x32 input, no padding"}});
  bool field_ok = true;
  for (std::int64_t d : {1, 2, 3, 4}) {
    const conv::Shape s{.h = 32, .w = 32, .r = 3, .s = 3, .dilation_h = d, .dilation_w = d};
    field_ok = field_ok && s.extent_h() == 3 + 2 * (d - 1) && s.p() == 32 - s.extent_h() + 1;
    field.add_row({"3x3", std::to_string(d), std::to_string(s.extent_h()), fmt::format("{0}x{0}", s.p())});
  }
  lesson.say("\nDilation spreads the same 9 taps over a wider area (same FLOPs, wider view):");
  lesson.show(field);

  // 3. One layer, three algorithms and the peer.
  // Quick mode's smallest sweep layer (2x16x14x14) takes tens of microseconds a call, where
  // starting the thread team outweighs what the GEMM saves; 4x32x28x28 (0.06 GFLOP) is still
  // quick and shows it. Three interleaved rounds keep the ratios from one noisy moment.
  const bench::ConvLayer layer =
      options.quick ? bench::ConvLayer{"3x3, C=K=32, 28x28",
                                       {.n = 4, .c = 32, .h = 28, .w = 28, .k = 32, .r = 3, .s = 3, .pad_h = 1, .pad_w = 1}}
                    : bench::default_conv_layers(false)[0];
  bench::ConvSweepOptions o{.layers = {layer}, .threads = {threads}};
  for (const char* name : {"direct", "im2col-gemm", "implicit-gemm", "direct-blocked", "per-shape", "winograd-4x4", "onednn"})
    o.variants.push_back(find_conv_variant(name));
  if (options.quick) o.timing = bench::quick_timing(), o.interleave_rounds = 3;
  o.max_call_seconds = 30;
  o.progress = lesson.progress_callback();
  const conv::Shape& s = layer.shape;
  lesson.say(fmt::format("\nThe layer: {} ({:.2f} GFLOP). im2col copies every receptive field into a column: a "
                         "{} x {} matrix, {} ({}x the image).",
                         conv::describe(s), conv::flop_count(s) * 1e-9, s.c * s.r * s.s, s.p() * s.q(),
                         bench::format_bytes(4.0 * double(s.c * s.r * s.s * s.p() * s.q())), s.r * s.s));
  const bench::ConvSweep sweep = bench::run_conv_sweep(o);
  lesson.show(bench::conv_sweep_table(sweep));
  const double direct = sweep.seconds("direct", 0), im2col = sweep.seconds("im2col-gemm", 0),
               implicit = sweep.seconds("implicit-gemm", 0), onednn = sweep.seconds("onednn", 0);
  const double best_gemm = std::fmin(im2col, implicit);
  const double blocked = sweep.seconds("direct-blocked", 0), winograd = sweep.seconds("winograd-4x4", 0);
  // The best of every rung we wrote, for the comparison with oneDNN.
  const double best_own = std::fmin(std::fmin(best_gemm, blocked), sweep.seconds("per-shape", 0));
  if (std::isfinite(blocked))
    lesson.say(fmt::format("The blocked direct kernel (step 6) ran {:.2f}x the best GEMM rung: no im2col gather. "
                           "Winograd F(4x4,3x3) does 4x fewer multiplications and ran {:.2f}x the blocked kernel: "
                           "its transforms, vectorised only along a row of tiles, cost more than the multiplications "
                           "they save.",
                           best_gemm / blocked, blocked / winograd));

  lesson.compare("im2col + BLAS over a direct loop nest, CPU", 3.0,
                 "Chellapilla, Puri & Simard, High Performance CNNs for Document Processing, 2006", direct / im2col, "x");
  if (std::isfinite(onednn))
    lesson.compare("best own convolution vs oneDNN (speed)", 1.0, "parity with the vendor library", onednn / best_own, "x");

  lesson.check(edge_ok, "the edge filter gives [0 0 0 0; 30 30 30 30; 30 30 30 30; 0 0 0 0], as in the seed");
  lesson.check(field_ok, "a 3x3 filter with dilation d spans 3 + 2(d - 1) pixels and shrinks the output by that - 1");
  lesson.check(sweep.all_checks_passed(), "every implementation matched the float64 reference within its error bound");
  lesson.check(best_gemm * 2 <= direct,
               fmt::format("a GEMM formulation ran at least 2x the direct loops ({:.1f}x)", direct / best_gemm));
  if (std::isfinite(onednn))
    lesson.check(best_own <= onednn / 0.5, fmt::format("the best own convolution reached at least half of oneDNN's "
                                                       "speed ({:.0f}%)", 100 * onednn / best_own));
  // 4. The GPU: the same layer on our kernels and cuDNN, then cuDNN's own menu of algorithms.
  const bench::GpuStatus& gpu = bench::gpu_status();
  if (!gpu.usable) {
    lesson.say(fmt::format("\nNo usable GPU here ({}), so the cuDNN half of this lesson is left out.", gpu.reason));
  } else {
    bench::ConvSweepOptions g = o;
    g.variants = bench::cuda_conv_variants();
    g.threads = {1};
    const bench::ConvSweep gpu_sweep = bench::run_gpu_conv_sweep(g);
    lesson.say(fmt::format("\nThe same layer on {}:", gpu.devices.front().name));
    lesson.show(bench::conv_sweep_table(gpu_sweep));
    const double own = gpu_sweep.seconds("cuda-implicit-gemm", 0), cudnn_fastest = gpu_sweep.seconds("cudnn", 0),
                 cudnn_implicit = gpu_sweep.seconds("cudnn-implicit-gemm", 0);
    lesson.check(gpu_sweep.all_checks_passed(), "every GPU implementation matched the float64 reference");
    if (std::isfinite(cudnn_implicit) && std::isfinite(own))
      lesson.compare("our implicit GEMM vs cuDNN's IMPLICIT_GEMM (speed)", 1.0, "the same algorithm, FMA math",
                     cudnn_implicit / own, "x");
    if (std::isfinite(cudnn_fastest) && std::isfinite(own))
      lesson.compare("our implicit GEMM vs cuDNN's fastest (speed)", 0.5, "half of the vendor's best", cudnn_fastest / own,
                     "x");

    const bench::CudnnStudy study = bench::run_cudnn_study(layer, o.timing, lesson.progress_callback());
    if (!study.unavailable.empty()) {
      lesson.say("cuDNN study left out: " + study.unavailable);
    } else {
      lesson.say(fmt::format("\ncuDNN {} times every algorithm it has for this layer (cudnnFind):", study.version));
      for (const bench::Table& table : bench::cudnn_algorithm_tables(study)) lesson.show(table);
      for (const std::string& line : bench::cudnn_study_lines(study)) lesson.say("  " + line);
      bool deterministic = true;
      for (const bench::CudnnPassStudy& p : study.passes) deterministic = deterministic && p.deterministic_reproducible;
      lesson.check(deterministic, "cuDNN's deterministic mode gave the same bits on every run of every pass");
    }
  }
  say_roofline_lines(lesson, options.quick, {}, {&sweep});
  return lesson.finish(fmt::format(
      "the same {:.3f} GFLOP ran {:.1f}x faster as a matrix multiplication than as the textbook loops; the GEMM "
      "turns a convolution's reuse into the cache blocking lesson 05 built.",
      conv::flop_count(s) * 1e-9, direct / best_gemm));
}

}  // namespace flopslab::lessons
