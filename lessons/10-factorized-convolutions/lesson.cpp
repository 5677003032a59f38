// Lesson 10: factorised convolutions. A 7x7 layer against a 1x7 layer followed by a 7x1
// layer (Inception's trick), counted and timed; then how well a single 1x7 + 7x1 pair can
// stand in for real 7x7 filters, from their singular values.
#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "bench/sweeps/conv_sweep.h"
#include "bench/sweeps/gpu_conv.h"
#include "harness/machine/gpu_runtime.h"
#include "kernels/cpu/conv/low_rank.h"
#include "lessons/frame.h"

namespace flopslab::lessons {

int run_lesson_10(const LessonOptions& options) {
  LessonRun lesson(10, "Factorized convolutions");
  const int threads = lesson_threads(options);

  // The default layer list holds a 7x7 and its 1x7 and 7x1 factors with the same channels.
  std::vector<bench::ConvLayer> layers;
  for (bench::ConvLayer l : bench::default_conv_layers(options.quick)) {
    if ((l.shape.r != 7 && l.shape.s != 7) || l.shape.groups != 1) continue;
    // Quick mode's layers (16 channels) are too thin for the claim: each factor does 7
    // multiply-adds per value it reads and writes, so memory and each call's fixed costs, not
    // arithmetic, set its time (oneDNN's pair was slower than its 7x7 there). 64 channels at
    // quick mode's 14 x 14 make the factors compute-bound, as the full run's layers are.
    if (options.quick) l.shape.c = l.shape.k = 64, l.shape.n = 4, l.name = l.name.substr(0, 3) + ", C=K=64";
    layers.push_back(l);
  }
  bench::ConvSweepOptions o{.layers = layers, .threads = {threads}};
  for (const char* name : {"im2col-gemm", "implicit-gemm", "direct-blocked", "onednn"})
    o.variants.push_back(find_conv_variant(name));
  if (options.quick) o.timing = bench::quick_timing(), o.interleave_rounds = 3;  // rounds: one slow moment is shared out
  o.progress = lesson.progress_callback();
  const conv::Shape& full = layers[0].shape;
  lesson.say(fmt::format("A 7x7 layer, {}, against a 1x7 layer then a 7x1 layer with the same channels.",
                         conv::describe(full)));
  lesson.say(fmt::format("Multiply-adds per output pixel and channel pair: 7x7 = 49, 1x7 + 7x1 = 7 + 7 = 14. "
                         "GFLOP: {:.3f} against {:.3f} + {:.3f}.",
                         conv::flop_count(layers[0].shape) * 1e-9, conv::flop_count(layers[1].shape) * 1e-9,
                         conv::flop_count(layers[2].shape) * 1e-9));
  const bench::ConvSweep sweep = bench::run_conv_sweep(o);
  lesson.show(bench::conv_sweep_table(sweep));

  auto best = [&](std::size_t layer) {
    const double a = sweep.seconds("im2col-gemm", layer), b = sweep.seconds("implicit-gemm", layer),
                 c = sweep.seconds("direct-blocked", layer);
    return std::fmin(std::fmin(a, b), c);
  };
  const double own_ratio = best(0) / (best(1) + best(2));
  const double onednn_ratio =
      sweep.seconds("onednn", 0) / (sweep.seconds("onednn", 1) + sweep.seconds("onednn", 2));

  // How good is the rank-1 stand-in? Singular values of classic hand-made 7x7 filters.
  struct Named {
    const char* name;
    std::vector<double> w;
  };
  const std::vector<Named> filters = {
      {"Gaussian, sigma 1.5", conv::gaussian_filter(7, 1.5)},
      {"Laplacian of Gaussian, sigma 1.2", conv::laplacian_of_gaussian_filter(7, 1.2)},
      {"Gabor, 0 degrees", conv::gabor_filter(7, 0.0, 4.0, 1.8)},
      {"Gabor, 35 degrees", conv::gabor_filter(7, 35 * M_PI / 180, 4.0, 1.8)},
  };
  bench::Table svd_table({{"7x7 filter", bench::Table::Align::left}, {"rank-1 error"}, {"rank-2 error"},
                          {"rank-3 error"}, {"multiply-adds at rank 1 / 2 / 3"}});
  std::vector<double> rank1;
  for (const Named& f : filters) {
    const conv::FilterSvd svd = conv::filter_svd(f.w, 7, 7);
    rank1.push_back(svd.relative_error(1));
    svd_table.add_row({f.name, fmt::format("{:.1f}%", 100 * svd.relative_error(1)),
                       fmt::format("{:.1f}%", 100 * svd.relative_error(2)),
                       fmt::format("{:.1f}%", 100 * svd.relative_error(3)), "14 / 28 / 42 (7x7: 49)"});
  }
  lesson.say("\nA 1x7 then 7x1 pair applies a rank-1 filter (an outer product). The SVD gives the best rank-r "
             "approximation of a given 7x7 and its error (relative Frobenius norm):");
  lesson.show(svd_table);
  lesson.say("First-layer CNN filters look much like these Gaussian, blob and Gabor detectors. In a network the pair "
             "is trained directly rather than fitted to a 7x7; the table says which kinds of filter a single pair "
             "can express.");

  lesson.compare("7x7 over 1x7 + 7x1, multiply-adds", 49.0 / 14.0, "Szegedy et al., Rethinking Inception, 2016",
                 conv::flop_count(layers[0].shape) / (conv::flop_count(layers[1].shape) + conv::flop_count(layers[2].shape)), "x");
  lesson.compare("7x7 over 1x7 + 7x1, time, own best", 49.0 / 14.0, "the multiply-add ratio", own_ratio, "x");
  if (std::isfinite(onednn_ratio))
    lesson.compare("7x7 over 1x7 + 7x1, time, oneDNN", 49.0 / 14.0, "the multiply-add ratio", onednn_ratio, "x");

  // The same three layers on the GPU, our implicit GEMM and cuDNN.
  if (const bench::GpuStatus& gpu = bench::gpu_status(); !gpu.usable) {
    lesson.say(fmt::format("\nNo usable GPU here ({}), so the GPU rows are left out.", gpu.reason));
  } else {
    bench::ConvSweepOptions g = o;
    g.threads = {1};
    g.variants = {find_conv_variant("cuda-implicit-gemm")};
    if (const ConvVariant* cudnn = find_conv_variant("cudnn")) g.variants.push_back(cudnn);
    const bench::ConvSweep gpu_sweep = bench::run_gpu_conv_sweep(g);
    lesson.say(fmt::format("\nThe same layers on {}:", gpu.devices.front().name));
    lesson.show(bench::conv_sweep_table(gpu_sweep));
    lesson.check(gpu_sweep.all_checks_passed(), "every GPU implementation matched the float64 reference");
    for (const char* name : {"cuda-implicit-gemm", "cudnn"}) {
      const double ratio = gpu_sweep.seconds(name, 0) / (gpu_sweep.seconds(name, 1) + gpu_sweep.seconds(name, 2));
      if (std::isfinite(ratio))
        lesson.compare(fmt::format("7x7 over 1x7 + 7x1, time, {} (GPU)", name), 49.0 / 14.0, "the multiply-add ratio",
                       ratio, "x");
    }
  }

  lesson.check(sweep.all_checks_passed(), "every implementation matched the float64 reference within its error bound");
  lesson.check(own_ratio >= 2.0,
               fmt::format("the factorised pair ran at least 2x faster than the 7x7 ({:.2f}x)", own_ratio));
  lesson.check(rank1[0] < 1e-9, "a Gaussian is separable: one 1x7 + 7x1 pair reproduces it exactly");
  lesson.check(rank1[3] > 0.05 && rank1[3] > rank1[2],
               fmt::format("a diagonal Gabor filter is not separable (rank-1 error {:.0f}%, more than the "
                           "axis-aligned one's {:.0f}%)",
                           100 * rank1[3], 100 * rank1[2]));
  return lesson.finish(fmt::format(
      "3.5x fewer multiply-adds bought {:.1f}x less time here: a factorised layer is two smaller GEMMs plus a second "
      "pass over the intermediate image, and it expresses only what a sum of rank-1 filters can.",
      own_ratio));
}

}  // namespace flopslab::lessons
