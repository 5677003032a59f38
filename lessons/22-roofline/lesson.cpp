// Lesson 22: the roofline. The roofs come from lessons 01-02's probes (FMA peaks, bandwidth
// per cache level), the points from lesson 05's GEMM ladder, lessons 09-11's convolutions and
// a Linear layer at growing batch sizes; bench/roofline places each one and names its bound.
#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "bench/probes/probe.h"
#include "bench/roofline/roofline.h"
#include "bench/sweeps/conv_sweep.h"
#include "bench/sweeps/gemm_sweep.h"
#include "harness/format.h"
#include "lessons/frame.h"

namespace flopslab::lessons {

namespace {

using bench::roofline::Placement;

const Placement* find(const bench::roofline::Roofline& r, const std::string& name, int threads) {
  for (const Placement& p : r.placements)
    if (p.point.name == name && p.point.threads == threads) return &p;
  return nullptr;
}

std::string describe(const Placement& p) {
  if (!p.not_placed.empty()) return p.point.name + ": " + p.not_placed;
  return fmt::format("{}: {:.3g} FLOP/byte, {} of {}", p.point.name, p.point.intensity(), bench::format_percent(p.fraction),
                     p.bound_name());
}

}  // namespace

int run_lesson_22(const LessonOptions& options) {
  LessonRun lesson(22, "The roofline");
  const bool quick = options.quick;
  // Working sets up to 256 MiB even in quick mode: the DRAM roof needs sets well past the last
  // cache (quick probes stop at 64 MiB, which a 32 MiB L3 still partly holds).
  const bench::ProbeSession session({.quick = quick, .cores = options.threads, .max_bytes = std::int64_t(256) << 20,
                                     .progress = lesson.progress_callback()});
  const int cores = lesson_threads(options);

  // 1. The roofs: lesson 01's FMA peaks and lesson 02's bandwidth per level.
  Json sections{{"cpu", Json::object()}};
  for (const char* probe : {"flops", "latency", "bandwidth"}) {
    const bench::ProbeReport report = bench::find_probe(probe)->run(session.context);
    sections["cpu"][probe] = report.json;
    if (std::string(probe) == "latency") lesson.say(report.text());
  }

  // 2. Lesson 05's ladder on one core and all of them, and a Linear layer 784 -> 256 (a GEMM of
  // batch x 256 x 784) on one core at batch 1, 16 and 1024.
  const std::int64_t n = quick ? 256 : 512;
  bench::GemmSweepOptions g = bench::default_gemm_sweep(cores, quick);
  g.shapes = {{n, n, n}, {1, 256, 784}, {16, 256, 784}, {1024, 256, 784}};
  g.variants.clear();
  for (const char* name : {"naive", "loop-order", "blocked", "packed-simd", "openmp"})
    g.variants.push_back(find_gemm_variant(name));
  g.max_call_seconds = 2;
  g.progress = lesson.progress_callback();
  const bench::GemmSweep gemm = bench::run_gemm_sweep(g);
  sections["gemm"] = bench::gemm_sweep_json(gemm);

  // 3. Lessons 09-11's layers on all cores: a 3x3 layer of 64 channels, and a 1x1 layer of 8
  // channels on an activation of 64 MiB or four last-level caches, whichever is more (so it
  // lives in DRAM); and channel shuffle on the same bytes.
  std::int64_t llc = 0;
  for (int level = 1; level <= 4; ++level) llc = std::max(llc, bench::cache_bytes(session.machine, level));
  const std::int64_t big_pixels = std::max<std::int64_t>(64 << 20, 4 * llc) / (2 * 8 * 4);  // x and y, 8 channels
  const std::int64_t big_side = std::int64_t(std::ceil(std::sqrt(double(big_pixels) / 4)));
  bench::ConvSweepOptions c{.layers = {{"3x3, C=K=64", {.n = quick ? 2 : 8, .c = 64, .h = 28, .w = 28, .k = 64, .r = 3,
                                                         .s = 3, .pad_h = 1, .pad_w = 1}},
                                       {"1x1, C=K=8", {.n = 4, .c = 8, .h = big_side, .w = big_side, .k = 8}}},
                            .threads = {cores}};
  for (const char* name : {"direct", "im2col-gemm", "per-shape"})
    if (const ConvVariant* v = find_conv_variant(name)) c.variants.push_back(v);
  if (quick) c.timing = bench::quick_timing(), c.interleave_rounds = 1;
  c.progress = lesson.progress_callback();
  const bench::ConvSweep conv = bench::run_conv_sweep(c);
  sections["conv"] = bench::conv_sweep_json(conv);
  const bench::ShuffleMeasurement shuffle =
      bench::measure_channel_shuffle(4, 64, big_side * big_side / 8, 8, cores, c.timing);
  sections["conv"]["channel_shuffle"] = Json::array({bench::shuffle_json(shuffle)});

  // 4. The roofline.
  const bench::roofline::Roofline r = bench::roofline::roofline_from_sections(sections);
  lesson.say("The roofs this machine measured (lesson 01's FMA loops, lesson 02's STREAM kernels per level):");
  lesson.show(bench::roofline::roofs_table(r.roofs));
  lesson.say("\nEvery kernel under them (FLOP/byte: FLOPs per compulsory byte; bound: the roof that limits it):");
  lesson.show(bench::roofline::roofline_table(r));

  const bench::roofline::Roof* compute1 = r.roofs.compute_for("cpu", "fp32", 1);
  const bench::roofline::Roof* dram1 = r.roofs.memory_for("cpu", 1e300, 1);
  const double ridge = compute1 && dram1 ? compute1->value / dram1->value : std::nan("");
  const std::string shape = fmt::format("{}^3", n);
  const Placement* naive = find(r, "naive " + shape, 1);
  const Placement* packed = find(r, "packed-simd " + shape, 1);
  const Placement* three = find(r, "per-shape (step 6) 3x3, C=K=64 forward", cores);
  if (three == nullptr)  // per-shape may pick another step on another machine: any variant of that layer
    for (const Placement& p : r.placements)
      if (p.point.name.find("3x3, C=K=64") != std::string::npos && p.not_placed.empty()) three = &p;
  const Placement* pointwise = nullptr;
  for (const Placement& p : r.placements)
    if (p.point.name.find("1x1, C=K=8") != std::string::npos && p.not_placed.empty()) pointwise = &p;
  const Placement* shuffled = nullptr;
  for (const Placement& p : r.placements)
    if (p.point.kind == "shuffle") shuffled = &p;
  const Placement* batch1 = find(r, "packed-simd 1x256x784", 1);
  const Placement* batch1024 = find(r, "packed-simd 1024x256x784", 1);

  lesson.say("");
  for (const Placement* p : {naive, packed, three, pointwise, shuffled, batch1, batch1024})
    if (p != nullptr) lesson.say("  " + describe(*p));
  for (const std::string& line : bench::roofline::furthest_below(r, 3)) lesson.say("  furthest below: " + line);

  if (packed != nullptr && packed->not_placed.empty())
    lesson.compare("packed GEMM, fraction of its roof, 1 core", 0.9,
                   "Goto & van de Geijn 2008 (about 90% of peak)", packed->fraction, "%");
  if (std::isfinite(ridge))
    lesson.compare("ridge point, FLOP/byte (fp32 peak / DRAM bandwidth, 1 core)", 17.6 / 15,
                   "Williams et al., CACM 2009: Opteron X2, 17.6 GFLOP/s (fp64) over 15 GB/s", ridge, "");

  lesson.check(gemm.all_checks_passed() && conv.all_checks_passed() && shuffle.correct,
               "every GEMM rung and convolution matched its float64 reference, the shuffle is the permutation");
  lesson.check(r.flagged() == 0,
               fmt::format("no kernel ran above its roof ({} flagged): the FLOP counts, byte counts and roofs agree",
                           r.flagged()));
  const bool all_found = naive && packed && three && pointwise && shuffled && batch1 && batch1024;
  if (!lesson.check(all_found, "every kernel the claims below need was measured and placed")) return lesson.finish("");
  // The naive loop's working set sits in a cache level whose bandwidth times its intensity
  // allows far more than it gets: it is bound by neither roof but by latency and strides.
  const double naive_memory_limit = naive->point.intensity() * naive->memory->value;
  lesson.check(naive->point.gflops() < 0.1 * naive_memory_limit,
               fmt::format("the naive GEMM ran at under 10% of what its level's bandwidth ({}) allows at its intensity "
                           "({:.3g} of {:.4g} GFLOP/s)",
                           naive->memory->name, naive->point.gflops(), naive_memory_limit));
  lesson.check(packed->fraction >= 0.5,
               fmt::format("the packed rung reached at least half its compute roof ({})", bench::format_percent(packed->fraction)));
  lesson.check(pointwise->memory_bound && shuffled->memory_bound,
               fmt::format("a 1x1 convolution of 8 channels ({:.2g} FLOP/byte) and channel shuffle (none) are memory-bound "
                           "on {} thread{}",
                           pointwise->point.intensity(), cores, cores == 1 ? "" : "s"));
  lesson.check(!three->memory_bound,
               fmt::format("a 3x3 convolution of 64 channels ({:.3g} FLOP/byte) is compute-bound",
                           three->point.intensity()));
  lesson.check(batch1->point.intensity() < ridge && batch1024->point.intensity() > ridge,
               fmt::format("a Linear layer's intensity grows with the batch across the ridge ({:.2g} FLOP/byte): {:.2g} at "
                           "batch 1, {:.3g} at batch 1024",
                           ridge, batch1->point.intensity(), batch1024->point.intensity()));
  return lesson.finish(fmt::format(
      "a kernel's speed limit is min(peak, intensity x bandwidth): below {:.1f} FLOP/byte this core waits on DRAM, "
      "above it on its FMA units; the ladder climbs by raising the FLOPs done per byte it must move.",
      ridge));
}

}  // namespace flopslab::lessons
