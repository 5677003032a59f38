// The roofline model: intensities against hand counts, the roof chosen on either side of the
// ridge, the above-the-roof flag, and the roofs and points read from report JSON.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "bench/roofline/roofline.h"
#include "harness/build_info.h"
#include "harness/gpu_counters.h"
#include "harness/machine/gpu_runtime.h"
#include "kernels/conv.h"
#include "kernels/gemm.h"
#include "nn/layers.h"
#include "nn/models.h"
#include "bench/training/layer_profile.h"
#include "report/report_compare.h"
#include "report/roofline_svg.h"

using namespace flopslab;
using bench::roofline::Placement;
using bench::roofline::Point;
using bench::roofline::Roof;
using bench::roofline::Roofs;

namespace {

Point gemm_point(gemm::Shape s, double gflops, int threads = 1) {
  return {.name = "gemm", .kind = "gemm", .threads = threads, .flops = gemm::flop_count(s),
          .bytes = gemm::compulsory_bytes(s), .seconds = gemm::flop_count(s) / (gflops * 1e9)};
}

// 100 GFLOP/s fp32 (and a scalar 10), L1 200 GB/s up to 32 KiB, L2 100 GB/s up to 1 MiB, DRAM 20.
Roofs toy_roofs() {
  Roofs r;
  r.add({.name = "scalar fp32", .precision = "fp32", .value = 10, .source = "test"});
  r.add({.name = "vector fp32", .precision = "fp32", .value = 100, .source = "test"});
  r.add({.name = "L1", .compute = false, .value = 200, .capacity_bytes = 32 << 10, .source = "test"});
  r.add({.name = "L2", .compute = false, .value = 100, .capacity_bytes = 1 << 20, .source = "test"});
  r.add({.name = "DRAM", .compute = false, .value = 20, .source = "test"});
  return r;
}

conv::Shape pointwise_of(conv::Shape s) {
  s.r = s.s = 1;
  s.pad_h = s.pad_w = 0;
  return s;
}

Point at_intensity(double intensity, double working_set, double gflops) {
  const double bytes = 1e6;
  return {.name = "p", .kind = "gemm", .flops = intensity * bytes, .bytes = bytes,
          .seconds = intensity * bytes / (gflops * 1e9), .working_set = working_set};
}

}  // namespace

TEST_CASE("roofline: arithmetic intensity of GEMM, convolution and a Linear layer against hand counts") {
  // GEMM n^3: 2 n^3 FLOPs over 3 n^2 floats of 4 bytes = n / 6 FLOP per byte.
  CHECK(gemm_point({256, 256, 256}, 1).intensity() == doctest::Approx(256.0 / 6));
  CHECK(gemm_point({1024, 1024, 1024}, 1).intensity() == doctest::Approx(1024.0 / 6));
  // A Linear layer 784 -> 256 is the GEMM (batch x 256 x 784). At batch 1 it reads the whole
  // weight matrix for one multiply-add per weight: 2*784*256 / (4*(784 + 784*256 + 256)).
  const gemm::Shape batch1{1, 256, 784}, batch1024{1024, 256, 784};
  CHECK(gemm_point(batch1, 1).intensity() == doctest::Approx(401408.0 / 806976.0));   // 0.497
  CHECK(gemm_point(batch1024, 1).intensity() == doctest::Approx(411041792.0 / 5062656.0));  // 81.2
  // 3x3 convolution, 64 -> 64 channels, 56x56, batch 8, pad 1: direct and im2col share the
  // compulsory count (x, w, y once); im2col's column matrix is traffic beyond it.
  conv::Shape c{.n = 8, .c = 64, .h = 56, .w = 56, .k = 64, .r = 3, .s = 3, .pad_h = 1, .pad_w = 1};
  CHECK(conv::flop_count(c) == 1849688064.0);  // 2 * 8*64*56*56 * 64*9
  CHECK(conv::compulsory_bytes(c) == 4.0 * (2 * 8 * 64 * 56 * 56 + 64 * 64 * 9));
  CHECK(conv::flop_count(c) / conv::compulsory_bytes(c) == doctest::Approx(142.37).epsilon(1e-3));
  // Without the taps in the padding: per axis 56 * 3 - 2 (the first and last rows lose one).
  CHECK(conv::useful_flop_count(c) == 2.0 * 8 * 64 * 64 * (56 * 3 - 2) * (56 * 3 - 2));
  // 7x7, pad 3 on 28x28: per axis 28 * 7 - 2 * (3 + 2 + 1) = 184 of 196 taps, 88% in all.
  conv::Shape seven{.n = 8, .c = 64, .h = 28, .w = 28, .k = 64, .r = 7, .s = 7, .pad_h = 3, .pad_w = 3};
  CHECK(conv::useful_flop_count(seven) / conv::flop_count(seven) == doctest::Approx(184.0 * 184 / (196.0 * 196)));
  CHECK(conv::useful_flop_count(pointwise_of(c)) == conv::flop_count(pointwise_of(c)));  // no padding: all taps
  // 1x1, 32 -> 32 channels: 2*C FLOPs per output pixel over about 8 bytes per pixel.
  conv::Shape pointwise{.n = 8, .c = 32, .h = 28, .w = 28, .k = 32};
  CHECK(conv::flop_count(pointwise) / conv::compulsory_bytes(pointwise) ==
        doctest::Approx(2.0 * 32 * 32 * 6272 / (4.0 * (2 * 32 * 6272 + 32 * 32))));
}

TEST_CASE("roofline: the bound is memory below the ridge, compute at and above it, per cache level") {
  const Roofs roofs = toy_roofs();
  // The best fp32 compute roof is the vector loop's, not the scalar one.
  REQUIRE(roofs.compute_for("cpu", "fp32", 1) != nullptr);
  CHECK(roofs.compute_for("cpu", "fp32", 1)->value == 100);
  CHECK(roofs.compute_for("cpu", "bf16", 1) == nullptr);
  CHECK(roofs.compute_for("cpu", "fp32", 2) == nullptr);
  // DRAM ridge at 100 / 20 = 5 FLOP/byte.
  const Placement below = place(at_intensity(1, 64 << 20, 10), roofs);
  CHECK(below.memory_bound);
  CHECK(below.memory->name == "DRAM");
  CHECK(below.attainable == doctest::Approx(20));
  CHECK(below.fraction == doctest::Approx(0.5));
  CHECK(below.bound_name() == "DRAM bandwidth");
  const Placement ridge = place(at_intensity(5, 64 << 20, 50), roofs);
  CHECK_FALSE(ridge.memory_bound);
  CHECK(ridge.attainable == doctest::Approx(100));
  const Placement above = place(at_intensity(50, 64 << 20, 90), roofs);
  CHECK_FALSE(above.memory_bound);
  CHECK(above.bound_name() == "vector fp32 peak");
  CHECK(above.fraction == doctest::Approx(0.9));
  // The same intensity with a working set in L1 or L2 meets that level's line instead.
  const Placement in_l1 = place(at_intensity(0.25, 16 << 10, 25), roofs);
  CHECK(in_l1.memory->name == "L1");
  CHECK(in_l1.attainable == doctest::Approx(50));
  CHECK(place(at_intensity(0.25, 512 << 10, 25), roofs).memory->name == "L2");
  CHECK(place(at_intensity(0.25, (1 << 20) + 1, 1), roofs).memory->name == "DRAM");
  // No roof for the precision: listed with the reason, not placed.
  Point bf16 = at_intensity(50, 1 << 20, 150);
  bf16.precision = "bf16";
  const Placement unplaced = place(bf16, roofs);
  CHECK(unplaced.not_placed == "no bf16 compute roof measured on 1 thread here");
  CHECK(unplaced.compute == nullptr);
}

TEST_CASE("roofline: a point above its roof is flagged as a wrong count or roof") {
  const Roofs roofs = toy_roofs();
  // Intensity 1 in DRAM allows 20 GFLOP/s: 30 is impossible, 20.8 within the tolerance.
  const Placement impossible = place(at_intensity(1, 64 << 20, 30), roofs);
  CHECK(impossible.above_roof);
  CHECK(impossible.fraction == doctest::Approx(1.5));
  CHECK_FALSE(place(at_intensity(1, 64 << 20, 20.8), roofs).above_roof);
  // A data-movement kernel (no FLOPs) against its level's bandwidth.
  Point copy{.name = "shuffle", .kind = "shuffle", .flops = 0, .bytes = 64 << 20, .seconds = (64 << 20) / 10e9};
  const Placement moved = place(copy, roofs);
  CHECK(moved.memory_bound);
  CHECK(moved.attainable == 20);
  CHECK(moved.fraction == doctest::Approx(0.5));
  copy.seconds /= 4;  // 40 GB/s against DRAM's 20
  CHECK(place(copy, roofs).above_roof);
}

namespace {
// A report's "cpu" section: a 100 GFLOP/s FMA roof, L1 (32 KiB) at 200 GB/s, L2 (1 MiB) at 100,
// DRAM at 20, on one thread.
Json toy_cpu_section() {
  return Json::parse(R"json({
      "flops": {"points": [{"loop": "avx2-fp32", "isa": "avx2 (256-bit)", "precision": "fp32", "threads": 1,
                            "gflops_best": 100}]},
      "latency": {"levels": [{"level": "L1", "last_bytes": 32768}, {"level": "L2", "last_bytes": 1048576},
                             {"level": "DRAM", "last_bytes": 1e9}]},
      "bandwidth": {"points": [{"kernel": "read", "threads": 1, "bytes": 16384, "gbytes_per_s": 200},
                               {"kernel": "read", "threads": 1, "bytes": 524288, "gbytes_per_s": 100},
                               {"kernel": "triad", "threads": 1, "bytes": 268435456, "gbytes_per_s": 20}]}})json");
}
}  // namespace

// A convolution row is timed call after call on the same operands: one faster than the level
// its working set's size names is placed at the faster level that explains it (noted), and one
// faster than every level is still flagged.
TEST_CASE("roofline: a convolution row faster than its working set's level is re-placed, one faster than L1 flagged") {
  Json sections = Json::parse(R"json({
    "conv": {"layers": [{"n": 8, "c": 32, "h": 28, "w": 28, "k": 32, "r": 3, "s": 3, "pad_h": 1, "pad_w": 1,
                         "groups": 32}],
             "rows": [{"variant": "depthwise", "step": 8, "layer": 0, "layer_name": "dw", "pass": "forward",
                       "threads": 1, "median_s": 0.00005},
                      {"variant": "depthwise", "step": 8, "layer": 0, "layer_name": "dw", "pass": "forward",
                       "threads": 1, "median_s": 0.000005}]}})json");
  sections["cpu"] = toy_cpu_section();
  const bench::roofline::Roofline r = bench::roofline::roofline_from_sections(sections);
  REQUIRE(r.placements.size() == 2);
  const Placement& cached = r.placements[0];
  // 1.6 MB of x, w and y (past the 1 MiB L2: DRAM by size), about 2.1 FLOP/byte: DRAM allows
  // about 42 GFLOP/s, and the row ran at about 67.
  CHECK(cached.point.intensity() == doctest::Approx(2.1).epsilon(0.05));
  CHECK(cached.point.gflops() > cached.point.intensity() * 20);
  CHECK(cached.memory->name == "L2");
  CHECK_FALSE(cached.above_roof);
  CHECK(cached.note == "faster than DRAM allows: its input was still in L2, read by the call before");
  CHECK(r.placements[1].above_roof);  // about 670 GFLOP/s: above the 100 GFLOP/s FMA roof at any level
  CHECK(r.flagged() == 1);
}

// The GEMM sweep times its rows the same way: a batch-1 Linear layer's 1.6 MB weight, read
// again by every call, is served from L2 when the latency curve put the edge of L2 below it.
TEST_CASE("roofline: a GEMM row faster than DRAM allows is re-placed at the cache that held its operands") {
  Json sections = Json::parse(R"json({
    "gemm": {"rows": [
      {"variant": "blocked", "step": 3, "device": "cpu", "m": 1, "n": 512, "k": 784, "threads": 1,
       "flops": 802816, "bytes": 1610752, "median_s": 2.676e-5},
      {"variant": "blocked", "step": 3, "device": "cpu", "m": 1, "n": 512, "k": 784, "threads": 1,
       "flops": 802816, "bytes": 1610752, "median_s": 5e-6}]}})json");
  sections["cpu"] = toy_cpu_section();
  const bench::roofline::Roofline r = bench::roofline::roofline_from_sections(sections);
  REQUIRE(r.placements.size() == 2);
  const Placement& cached = r.placements[0];
  // About 0.5 FLOP/byte: DRAM allows 10 GFLOP/s, L2 50, and the row ran at 30.
  CHECK(cached.point.gflops() == doctest::Approx(30).epsilon(0.01));
  CHECK(cached.memory->name == "L2");
  CHECK(cached.fraction == doctest::Approx(0.6).epsilon(0.01));
  CHECK_FALSE(cached.above_roof);
  CHECK(cached.note == "faster than DRAM allows: its input was still in L2, read by the call before");
  // 160 GFLOP/s at 0.5 FLOP/byte needs 320 GB/s, more than even L1 gives: still flagged.
  CHECK(r.placements[1].above_roof);
  CHECK(r.placements[1].memory->name == "L1");
  CHECK(r.flagged() == 1);
}

TEST_CASE("roofline: roofs and points from report JSON, the JSON written, the flagged rows named") {
  const Json sections = Json::parse(R"json({
    "cpu": {
      "flops": {"points": [
        {"loop": "scalar-fp32", "isa": "scalar", "precision": "fp32", "threads": 1, "gflops_best": 10},
        {"loop": "avx2-fp32", "isa": "avx2 (256-bit)", "precision": "fp32", "threads": 1, "gflops_best": 100}]},
      "latency": {"levels": [{"level": "L1", "last_bytes": 32768}, {"level": "L2", "last_bytes": 1048576},
                             {"level": "DRAM", "last_bytes": 1e9}]},
      "bandwidth": {"points": [
        {"kernel": "read", "threads": 1, "bytes": 16384, "gbytes_per_s": 200},
        {"kernel": "copy", "threads": 1, "bytes": 16384, "gbytes_per_s": 150},
        {"kernel": "read", "threads": 1, "bytes": 524288, "gbytes_per_s": 100},
        {"kernel": "triad", "threads": 1, "bytes": 268435456, "gbytes_per_s": 20}]}},
    "gemm": {"rows": [
      {"variant": "naive", "step": 1, "device": "cpu", "m": 256, "n": 256, "k": 256, "threads": 1,
       "flops": 33554432, "bytes": 786432, "median_s": 0.01},
      {"variant": "bf16", "step": 6, "device": "cpu", "m": 256, "n": 256, "k": 256, "threads": 1,
       "flops": 33554432, "bytes": 786432, "median_s": 0.0002},
      {"variant": "wrong", "step": 9, "device": "cpu", "m": 256, "n": 256, "k": 256, "threads": 1,
       "flops": 33554432, "bytes": 786432, "median_s": 0.0001},
      {"variant": "skipped", "step": 2, "device": "cpu", "m": 256, "n": 256, "k": 256, "threads": 1, "skipped": "why"}]},
    "conv": {"layers": [{"n": 8, "c": 32, "h": 28, "w": 28, "k": 32, "r": 1, "s": 1}],
             "rows": [{"variant": "gemm-1x1", "step": 4, "layer": 0, "layer_name": "1x1", "pass": "forward",
                       "threads": 1, "median_s": 0.001}],
             "channel_shuffle": [{"n": 8, "c": 128, "plane": 784, "groups": 8, "threads": 1, "bytes": 6422528,
                                  "shuffle": {"median_s": 0.001}}]}})json");
  const bench::roofline::Roofline r = bench::roofline::roofline_from_sections(sections);
  // Roofs: two compute loops; L1 = the better of read and copy in it, L2, DRAM.
  REQUIRE(r.roofs.memory_for("cpu", 1000, 1) != nullptr);
  CHECK(r.roofs.memory_for("cpu", 1000, 1)->value == 200);
  CHECK(r.roofs.memory_for("cpu", 1000, 1)->name == "L1");
  CHECK(r.roofs.memory_for("cpu", 1e6, 1)->name == "L2");
  CHECK(r.roofs.memory_for("cpu", 1e8, 1)->value == 20);
  REQUIRE(r.placements.size() == 5);  // 3 GEMM rows (one skipped), 1 convolution, 1 shuffle
  const Placement& naive = r.placements[0];
  CHECK(naive.point.gflops() == doctest::Approx(3.3554432));
  CHECK(naive.memory->name == "L2");  // 768 KiB of A, B and C
  CHECK_FALSE(naive.memory_bound);    // 42.7 FLOP/byte x 100 GB/s is far above 100 GFLOP/s
  CHECK(naive.fraction == doctest::Approx(0.033554432));
  CHECK(r.placements[1].not_placed == "no bf16 compute roof measured on 1 thread here");
  CHECK(r.placements[2].above_roof);  // 335 GFLOP/s against a 100 GFLOP/s roof
  CHECK(r.flagged() == 1);
  const Placement& conv1x1 = r.placements[3];
  CHECK(conv1x1.point.intensity() == doctest::Approx(2.0 * 32 * 32 * 6272 / (4.0 * (2 * 32 * 6272 + 32 * 32))));
  CHECK(conv1x1.memory->name == "DRAM");  // 1.6 MB of x, w and y: past the 1 MiB L2
  CHECK_FALSE(conv1x1.memory_bound);       // 8.0 FLOP/byte, right of DRAM's ridge at 5
  const Placement& shuffle = r.placements[4];
  CHECK(shuffle.point.kind == "shuffle");
  CHECK(shuffle.memory->name == "DRAM");
  CHECK(shuffle.fraction == doctest::Approx(6.422528 / 20));
  // JSON: every point with its bound, the ridges, the count of flagged points.
  const Json j = bench::roofline::roofline_json(r);
  REQUIRE(j["points"].size() == 5);
  CHECK(j["flagged"] == 1);
  CHECK(j["points"][0]["bound"] == "compute");
  CHECK(j["points"][0]["bound_roof"] == "avx2 (256-bit) fp32 peak");
  CHECK(j["points"][1]["not_placed"] == "no bf16 compute roof measured on 1 thread here");
  CHECK(j["points"][2]["above_roof"] == true);
  bool dram_ridge = false;
  for (const Json& ridge : j["ridges"])
    if (ridge["memory"] == "DRAM") {
      dram_ridge = true;
      CHECK(ridge["intensity"].get<double>() == doctest::Approx(5));
    }
  CHECK(dram_ridge);
  const std::string table = bench::roofline::roofline_table(r).text();
  CHECK(table.find("ABOVE ITS ROOF") != std::string::npos);
  // The SVG for report.html: one circle per placed point with FLOPs, each titled for hover.
  const std::string svg = bench::roofline_svg(j);
  auto count = [&](const std::string& what) {
    std::size_t n = 0;
    for (std::size_t at = svg.find(what); at != std::string::npos; at = svg.find(what, at + 1)) ++n;
    return n;
  };
  CHECK(count("<circle") == 3);  // naive, the impossible one, the 1x1 convolution (bf16 unplaced, shuffle no FLOPs)
  CHECK(count("class=\"point above-roof\"") == 1);
  CHECK(svg.find("<title>" + bench::roofline_hover_text(j["points"][0]) + "</title>") != std::string::npos);
  CHECK(bench::roofline_hover_text(j["points"][0]) ==
        "naive 256^3 (1 thread): 42.7 FLOP/byte, 3.355 GFLOP/s; bound: avx2 (256-bit) fp32 peak, 100 attainable, 3.4% of it");
  CHECK(bench::roofline_svg(Json::object()).empty());
  const std::vector<std::string> worst = bench::roofline::furthest_below(r, 2);
  REQUIRE(worst.size() == 2);
  CHECK(worst[0].rfind("naive 256^3 on 1 thread: 3.4% of its bound", 0) == 0);
}

// oneDNN's 7x7 convolution in the AMD report ran at 567 "GFLOP/s" against a 513 GFLOP/s FMA
// peak: it skips the padding's taps. Counted without them it is at 97% of the roof.
TEST_CASE("roofline: every point of the stored reports (Intel Xeon and AMD EPYC, 2 vCPUs) is at or under its roof") {
  // 2026-12-06 has the training layers at four batch sizes, the bf16 roof, and a latency curve
  // with a "DRAM, beyond TLB reach" plateau (memory, not a cache level).
  for (const char* report_dir : {"intel-xeon-2c-2026-12-03", "amd-epyc-2c-2026-12-01", "amd-epyc-2c-2026-12-06"}) {
    const Json report = bench::read_report(std::string(build_info().source_dir) + "/reports/" + report_dir);
    const bench::roofline::Roofline r = bench::roofline::roofline_from_sections(report["sections"]);
    int placed = 0;
    for (const Placement& p : r.placements) {
      INFO(p.point.name << " on " << p.point.threads << ": " << p.fraction << " of " << p.bound_name());
      CHECK_FALSE(p.above_roof);
      placed += p.not_placed.empty() ? 1 : 0;
    }
    CHECK(placed >= 70);  // every GEMM rung and convolution variant that ran, bf16 aside
  }
}

TEST_CASE("roofline: a training layer's cost against hand counts, and the step's layers in order") {
  std::mt19937_64 rng(0);
  nn::Linear linear(784, 256, rng);
  // Batch 1: 2*784*256 FLOPs reading x (784), W (784*256) and b (256) and writing y (256).
  nn::LayerCost one = linear.cost({1, 784}, {1, 256}, true);
  CHECK(one.counted);
  CHECK(one.forward_flops == 401408.0);
  CHECK(one.forward_bytes == 4.0 * (784 + 784 * 256 + 256 + 256));
  // Backward: dW (as many FLOPs) and dx (as many again); without an input gradient dW alone.
  CHECK(one.backward_flops == 2 * 401408.0);
  CHECK(linear.cost({1, 784}, {1, 256}, false).backward_flops == 401408.0);
  CHECK(linear.cost({1, 784}, {1, 256}, false).backward_bytes == 4.0 * (256 + 784 + 784 * 256 + 256));
  // Batch 1024: the weights are read once for 1024 rows, 160 times the intensity.
  const nn::LayerCost big = linear.cost({1024, 784}, {1024, 256}, true);
  CHECK(big.forward_flops == 411041792.0);
  CHECK(big.forward_bytes == 4.0 * (1024 * 784 + 784 * 256 + 256 + 1024 * 256));
  CHECK(one.forward_flops / one.forward_bytes == doctest::Approx(0.4968).epsilon(1e-3));
  CHECK(big.forward_flops / big.forward_bytes == doctest::Approx(81.17).epsilon(1e-3));

  // A 3x3 convolution's passes: the useful taps each, its tensors once each.
  nn::Conv2d conv(conv::Shape{.c = 16, .k = 32, .r = 3, .s = 3, .pad_h = 1, .pad_w = 1}, rng);
  const conv::Shape s{.n = 8, .c = 16, .h = 14, .w = 14, .k = 32, .r = 3, .s = 3, .pad_h = 1, .pad_w = 1};
  const nn::LayerCost c = conv.cost({8, 16, 14, 14}, {8, 32, 14, 14}, true);
  CHECK(c.forward_flops == conv::useful_flop_count(s));
  CHECK(c.forward_bytes == conv::compulsory_bytes(s) + 4.0 * 32);
  CHECK(c.backward_flops == 2 * conv::useful_flop_count(s));
  // ReLU moves 4 bytes in and out per element; its backward reads dy and x and writes dx.
  const nn::LayerCost relu = nn::Activation(nn::ActivationKind::relu).cost({8, 100}, {8, 100}, true);
  CHECK((relu.forward_flops == 0 && relu.forward_bytes == 8.0 * 800 && relu.backward_bytes == 12.0 * 800));
  CHECK(nn::Flatten().cost({8, 1, 28, 28}, {8, 784}, true).forward_bytes == 0);

  // The MLP after one profiled training forward: Flatten has no backward, the first Linear
  // no input gradient, and every layer is counted.
  auto mlp = nn::make_model("mlp", rng);
  nn::LayerTimes times;
  const nn::Context ctx{.training = true, .threads = 1, .input_gradient = false, .profile = &times};
  mlp->forward(nn::Tensor({4, 1, 28, 28}, 0.5f), ctx);
  const std::vector<nn::LayerCost> costs = mlp->layer_costs(times, false);
  REQUIRE(costs.size() == mlp->layers.size());
  CHECK(times.input_shapes[1] == std::vector<std::int64_t>{4, 784});
  CHECK(times.output_shapes[1] == std::vector<std::int64_t>{4, 256});
  for (const nn::LayerCost& l : costs) CHECK(l.counted);
  CHECK(costs[0].backward_bytes == 0);
  CHECK(costs[1].forward_flops == 2.0 * 4 * 784 * 256);
  CHECK(costs[1].backward_flops == 2.0 * 4 * 784 * 256);  // dW only
  CHECK(costs[3].backward_flops == 2 * 2.0 * 4 * 256 * 128);  // dW and dx
}

TEST_CASE("roofline: training points from layer profiles, a cached input re-placed, the ridge crossed") {
  // The MLP's first Linear at batch 1 and 256 (2 threads), a ReLU faster than its own level
  // allows, and the whole step.
  auto profile = [](int batch, double linear_ms, double relu_ms) {
    const double n = batch;
    return Json{{"model", "mlp"}, {"batch", batch}, {"threads", 1}, {"device", "cpu"}, {"step_ms", 3 * linear_ms},
                {"optimizer_bytes", 28.0 * 784 * 256},
                {"layers", Json::array({Json{{"layer", "Linear(784 -> 256)"}, {"forward_ms", linear_ms},
                                             {"backward_ms", 2 * linear_ms}, {"forward_flops", 2 * n * 784 * 256},
                                             {"forward_bytes", 4 * (n * 784 + 784 * 256 + 256 + n * 256)},
                                             {"backward_flops", 2 * n * 784 * 256},
                                             {"backward_bytes", 4 * (n * 256 + n * 784 + 784 * 256 + 256)}},
                                        Json{{"layer", "ReLU"}, {"forward_ms", relu_ms}, {"backward_ms", relu_ms},
                                             {"forward_flops", 0}, {"forward_bytes", 8 * n * 256},
                                             {"backward_flops", 0}, {"backward_bytes", 12 * n * 256}}})}};
  };
  // Roofs: 100 GFLOP/s; L1 200 GB/s to 32 KiB, L2 100 GB/s to 1 MiB, DRAM 20 (toy_roofs).
  // Batch 1: 0.497 FLOP/byte, in L2 (808 KB): attainable 49.7, reached 10 GFLOP/s.
  // Batch 256: 55 FLOP/byte, compute-bound. ReLU at batch 256: 512 KiB in and out (L2) moved at
  // 150 GB/s: above L2's 100, under L1's 200, so its input was still in L1.
  Json sections;
  sections["training"]["layer_profiles"] = Json::array({profile(1, 401408.0 / 10e9 * 1e3, 0.01),
                                                        profile(256, 2.0 * 256 * 784 * 256 / 50e9 * 1e3,
                                                                8.0 * 256 * 256 / 150e9 * 1e3)});
  const std::vector<Point> points = bench::roofline::points_from_sections(sections);
  const Roofs roofs = toy_roofs();
  std::vector<Placement> placed;
  for (const Point& p : points) placed.push_back(bench::roofline::place(p, roofs));
  auto find = [&](const std::string& name) -> const Placement& {
    for (const Placement& p : placed)
      if (p.point.name == name) return p;
    FAIL("no point " << name);
    return placed.front();
  };
  const Placement& small = find("mlp #0 Linear(784 -> 256) forward, batch 1");
  CHECK(small.point.kind == "layer");
  CHECK(small.point.family == "cpu mlp #0 Linear(784 -> 256) forward");
  CHECK(small.memory_bound);
  CHECK(small.memory->name == "L2");
  CHECK(small.fraction == doctest::Approx(10 / (100 * 401408.0 / 808000.0)));  // bias read too
  const Placement& large = find("mlp #0 Linear(784 -> 256) forward, batch 256");
  CHECK_FALSE(large.memory_bound);
  CHECK(large.fraction == doctest::Approx(0.5));
  const Placement& relu = find("mlp #1 ReLU forward, batch 256");
  CHECK(relu.memory->name == "L1");
  CHECK_FALSE(relu.above_roof);
  CHECK(relu.note == "faster than L2 allows: its input was still in L1, written by the layer before");
  // The step: both layers' FLOPs and bytes and Adam's, over the step's time.
  const Placement& step = find("mlp training step, batch 256");
  CHECK(step.point.kind == "step");
  CHECK(step.point.flops == doctest::Approx(4.0 * 256 * 784 * 256));
  // A ReLU faster than L1 itself is an error, flagged; so is a kernel above its own level.
  Point impossible = relu.point;
  impossible.seconds /= 2;  // 300 GB/s
  CHECK(bench::roofline::place(impossible, roofs).above_roof);
  impossible.input_may_be_cached = false;
  impossible.seconds *= 1.5;  // 200 GB/s on an L2 set, a kernel: no excuse
  CHECK(bench::roofline::place(impossible, roofs).above_roof);

  bench::roofline::Roofline r{.roofs = roofs, .placements = placed};
  const std::vector<std::string> summary = bench::roofline::training_summary(r);
  REQUIRE(summary.size() == 2);
  CHECK(summary[0].rfind("mlp training step on 1 thread(s): batch 1: ", 0) == 0);
  CHECK(summary[1].find("mlp #0 Linear(784 -> 256) forward (batch 1 to 256)") != std::string::npos);
  // The tables keep kernels and training apart.
  CHECK(bench::roofline::roofline_table(r, 0, bench::roofline::PointSet::kernels).text().find("mlp") ==
        std::string::npos);
  CHECK(bench::roofline::roofline_table(r, 0, bench::roofline::PointSet::training).text().find("ReLU") !=
        std::string::npos);
}

TEST_CASE("roofline: a counted call's DRAM bytes give the measured intensity beside the model's") {
  // A 512^3 GEMM row whose one counted call missed the last level 98304 times: 6 MiB from DRAM,
  // twice its 3 MiB of compulsory bytes (the model's 85.3 FLOP/byte, measured 42.7).
  const double flops = gemm::flop_count({512, 512, 512}), bytes = gemm::compulsory_bytes({512, 512, 512});
  Json row{{"variant", "blocked"}, {"step", 3}, {"device", "cpu"}, {"m", 512}, {"n", 512}, {"k", 512}, {"threads", 1},
           {"flops", flops}, {"bytes", bytes}, {"median_s", flops / 40e9}, {"llc_misses", 98304.0},
           {"measured_dram_bytes", 64 * 98304.0}};
  Json sections;
  sections["gemm"] = {{"rows", Json::array({row})}, {"counters", "perf_event"}};
  bench::roofline::Roofline r{.roofs = toy_roofs()};
  for (const Point& p : bench::roofline::points_from_sections(sections)) r.placements.push_back(bench::roofline::place(p, r.roofs));
  r.counters = "perf_event";
  REQUIRE(r.placements.size() == 1);
  CHECK(r.placements[0].point.measured_bytes == 64 * 98304.0);
  const Json j = bench::roofline::roofline_json(r);
  CHECK(j["points"][0]["intensity"].get<double>() == doctest::Approx(512.0 / 6));
  CHECK(j["points"][0]["measured_intensity"].get<double>() == doctest::Approx(512.0 / 12));
  const std::string table = bench::roofline::roofline_table(r).text();
  CHECK(table.find("measured FLOP/byte") != std::string::npos);
  INFO(table);
  CHECK(table.find(" 85.3 ") != std::string::npos);
  CHECK(table.find(" 42.7 ") != std::string::npos);
  CHECK(bench::roofline::measured_intensity_note(r).rfind("Measured FLOP/byte: ", 0) == 0);
  // Without counters: no column, and the reason said once.
  row.erase("measured_dram_bytes");
  sections["gemm"] = {{"rows", Json::array({row})}, {"counters", "hardware counters unavailable here (perf_event_open: "
                                                                 "No such file or directory; common in virtual machines)"}};
  const bench::roofline::Roofline none = bench::roofline::roofline_from_sections(sections);
  CHECK(bench::roofline::roofline_table(none).text().find("measured FLOP/byte") == std::string::npos);
  CHECK(bench::roofline::measured_intensity_note(none) ==
        "No measured FLOP/byte beside the model's: hardware counters unavailable here (perf_event_open: No such file or "
        "directory; common in virtual machines).");
  CHECK_FALSE(bench::roofline::roofline_json(none)["points"][0].contains("measured_intensity"));
}

TEST_CASE("roofline: the GEMM sweep's own FMA peaks raise a probe's roof measured low, never lower one") {
  // A 2-thread flops probe run while another program held one core measured one core's worth;
  // the sweep measured the same loop around its rows. The higher is the roof, with its source.
  Json sections;
  sections["cpu"]["flops"]["points"] = Json::parse(R"json([
      {"loop": "avx2-fp32", "isa": "avx2 (256-bit)", "precision": "fp32", "threads": 1, "gflops_best": 117.4},
      {"loop": "avx2-fp32", "isa": "avx2 (256-bit)", "precision": "fp32", "threads": 2, "gflops_best": 117.7}])json");
  sections["gemm"]["peaks"] = Json::parse(R"json([
      {"loop": "avx2-fp32", "isa": "avx2 (256-bit)", "precision": "fp32", "threads": 1, "gflops": 110.0},
      {"loop": "avx2-fp32", "isa": "avx2 (256-bit)", "precision": "fp32", "threads": 2, "gflops": 234.0}])json");
  const Roofs roofs = bench::roofline::roofs_from_sections(sections);
  const bench::roofline::Roof* one = roofs.compute_for("cpu", "fp32", 1);
  const bench::roofline::Roof* two = roofs.compute_for("cpu", "fp32", 2);
  REQUIRE(one != nullptr);
  REQUIRE(two != nullptr);
  CHECK(one->value == 117.4);
  CHECK(one->source == "flops probe, avx2-fp32 loop, best run");
  CHECK(two->value == 234.0);
  CHECK(two->source == "GEMM sweep, avx2-fp32 loop, the better of a run before and one after its rows (the probe's "
                       "117.7 was lower)");
  CHECK(std::count_if(roofs.all().begin(), roofs.all().end(), [](const bench::roofline::Roof& r) { return r.compute; }) == 2);
}

TEST_CASE("roofline: a GPU row's counted DRAM bytes, or why the GPU had no counters") {
  const double flops = gemm::flop_count({4096, 4096, 4096}), bytes = gemm::compulsory_bytes({4096, 4096, 4096});
  Json row{{"variant", "cublas"}, {"step", 0}, {"device", "cuda"}, {"m", 4096}, {"n", 4096}, {"k", 4096},
           {"threads", 1}, {"flops", flops}, {"bytes", bytes}, {"median_s", flops / 40e12},
           {"measured_dram_bytes", 2 * bytes}};
  Json sections;
  sections["gpu_gemm"] = {{"rows", Json::array({row})},
                          {"counters", "CUPTI range profiler (dram__bytes_read.sum + dram__bytes_write.sum)"}};
  const bench::roofline::Roofline counted = bench::roofline::roofline_from_sections(sections);
  REQUIRE(counted.placements.size() == 1);
  CHECK(counted.placements[0].point.measured_bytes == 2 * bytes);
  CHECK(bench::roofline::measured_intensity_note(counted) ==
        "On the GPU, the bytes one call read from and wrote to its DRAM, counted by CUPTI's range profiler "
        "(dram__bytes_read.sum + dram__bytes_write.sum) after the same L2 flush as the timed calls.");
  row.erase("measured_dram_bytes");
  sections["gpu_gemm"] = {{"rows", Json::array({row})}, {"counters", "GPU counters unavailable (x)"}};
  sections["gemm"] = {{"rows", Json::array()}, {"counters", "hardware counters unavailable here (y)"}};
  const bench::roofline::Roofline none = bench::roofline::roofline_from_sections(sections);
  CHECK(bench::roofline::measured_intensity_note(none) ==
        "No measured FLOP/byte beside the model's: hardware counters unavailable here (y). No measured FLOP/byte on "
        "the GPU: GPU counters unavailable (x).");
  CHECK(bench::roofline::roofline_json(none)["gpu_counters"] == "GPU counters unavailable (x)");
  // On a machine without a usable GPU the counters say so, and that is what a sweep stores.
  if (!bench::gpu_status().usable) {
    CHECK_FALSE(bench::GpuCounters::instance().available());
    CHECK(bench::gpu_counters_description() == bench::GpuCounters::instance().reason());
    const std::string& why = bench::GpuCounters::instance().reason();
    CHECK((why.rfind("no usable GPU: ", 0) == 0 || why == "this build has no CUDA"));
  }
}

TEST_CASE("roofline: the GPU's tensor roofs, from the clocks where known, else the checked mma.sync chains") {
  Json sections;
  Json& flops = sections["gpu"]["probes"]["gpu-flops"];
  flops = {{"gflops_best", 60000.0},
           {"tensor", {{"theoretical_bf16_gflops", 1e6}, {"theoretical_tf32_gflops", 5e5}, {"theoretical_formula", "H100"},
                       {"bf16", {{"gflops_best", 6.2e5}, {"checked", true}}},
                       {"tf32", {{"gflops_best", 3.1e5}, {"checked", true}}}}}};
  auto roof = [](const Roofs& r, const std::string& precision) { return r.compute_for("cuda", precision, 1); };
  Roofs r = bench::roofline::roofs_from_sections(sections);
  REQUIRE(roof(r, "bf16") != nullptr);
  CHECK(roof(r, "bf16")->value == 1e6);
  CHECK(roof(r, "tf32")->value == 5e5);
  CHECK(roof(r, "bf16")->source == "tensor cores from the clocks (H100); the mma.sync chain reached 620000 GFLOP/s");
  CHECK(roof(r, "fp32")->value == 60000);
  // An architecture outside the table: the chain's best, when its sums checked.
  flops["tensor"]["theoretical_bf16_gflops"] = 0, flops["tensor"]["theoretical_tf32_gflops"] = 0;
  flops["tensor"]["tf32"]["checked"] = false;
  r = bench::roofline::roofs_from_sections(sections);
  CHECK(roof(r, "bf16")->value == 6.2e5);
  CHECK(roof(r, "tf32") == nullptr);
  // A cuBLAS bf16 row is then placed under the bf16 roof (compute-bound at 4096^3).
  const gemm::Shape s{4096, 4096, 4096};
  const Point p{.name = "cublas-bf16 4096^3", .kind = "gemm", .precision = "bf16", .device = "cuda",
                .flops = gemm::flop_count(s), .bytes = gemm::compulsory_bytes(s), .seconds = gemm::flop_count(s) / 3.1e14};
  r.add({.name = "GPU memory", .compute = false, .device = "cuda", .value = 3000});
  const Placement placed = bench::roofline::place(p, r);
  CHECK(placed.not_placed.empty());
  CHECK(placed.fraction == doctest::Approx(0.5));
}

TEST_CASE("roofline: the GPU's memory roofs, HBM from its best copy or triad and the L2 below its size") {
  // The H100 report's gpu-bandwidth probe: the 4-float triad beats the driver's copy, and the L2
  // (50 MiB, read over half of it) runs at 21 TB/s.
  Json sections;
  sections["gpu"]["probes"]["gpu-bandwidth"] = {
      {"d2d_gbytes_per_s", 2982.0},
      {"points", Json::array({Json{{"test", "copy, 4 floats per access"}, {"working_set", 2147483648.0}, {"gbytes_per_s", 2988.0}},
                              Json{{"test", "triad, 4 floats per access"}, {"working_set", 3221225472.0}, {"gbytes_per_s", 3046.0}},
                              Json{{"test", "read from L2 (half its size, 20 passes)"}, {"working_set", 26214400.0},
                                   {"gbytes_per_s", 21278.0}},
                              Json{{"test", "read from shared memory (16 KiB per block)"}, {"working_set", 16384.0},
                                   {"gbytes_per_s", 63202.0}}})}};
  const Roofs r = bench::roofline::roofs_from_sections(sections);
  const Roof* hbm = r.memory_for("cuda", 1e9, 1);
  REQUIRE(hbm != nullptr);
  CHECK(hbm->name == "GPU memory");
  CHECK(hbm->value == 3046);
  CHECK(hbm->source == "gpu-bandwidth probe, best over arrays beyond the L2 (triad, 4 floats per access)");
  const Roof* l2 = r.memory_for("cuda", 30e6, 1);
  REQUIRE(l2 != nullptr);
  CHECK(l2->name == "GPU L2");
  CHECK(l2->value == 21278);
  CHECK(r.memory_for("cuda", 60e6, 1)->name == "GPU memory");  // past the 50 MiB L2
}

TEST_CASE("roofline: the stored 2026-12-06 report's roofs stop at the caches, and its training points are placed") {
  const Json report = bench::read_report(std::string(build_info().source_dir) + "/reports/amd-epyc-2c-2026-12-06");
  const bench::roofline::Roofline r = bench::roofline::roofline_from_sections(report["sections"]);
  // The latency curve's "DRAM, beyond TLB reach" plateau is no cache level: DRAM is the last roof.
  for (const Roof& roof : r.roofs.all()) CHECK(roof.name.find("TLB") == std::string::npos);
  REQUIRE(r.roofs.memory_for("cpu", 1e9, 2) != nullptr);
  CHECK(r.roofs.memory_for("cpu", 1e9, 2)->name == "DRAM");
  REQUIRE(r.roofs.compute_for("cpu", "bf16", 1) != nullptr);
  int layers = 0, steps = 0;
  for (const Placement& p : r.placements) {
    layers += p.point.kind == "layer" && p.not_placed.empty();
    steps += p.point.kind == "step" && p.not_placed.empty();
  }
  CHECK(steps == 8);  // two models at four batch sizes
  CHECK(layers >= 100);
  CHECK(bench::roofline::training_summary(r).size() >= 2);
}

TEST_CASE("roofline: a GPU training step under the host link's roof, fed its batch across it") {
  // The H100 report's bus: pinned H2D fitted at 54 GB/s. A step of 1 GFLOP that receives a
  // batch of 64 images (64 x 3144 bytes) can do at most 1e9 / 201216 x 54 GFLOP/s = 268 TFLOP/s
  // through the link: far above the GPU's roofs, so the link does not bound it. At 1 TFLOP per
  // 50 MB batch (20 FLOP per link byte) it does: 20 x 54 = 1080 GFLOP/s.
  Json sections;
  Json& probes = sections["gpu"]["probes"];
  probes["gpu-flops"] = {{"gflops_best", 60000.0}};
  probes["gpu-bandwidth"] = {{"d2d_gbytes_per_s", 3000.0}};
  probes["pcie"] = {{"link", {{"formula", "PCIe gen 5 x16"}}},
                    {"fits", Json::array({Json{{"memory", "pageable"}, {"direction", "H2D"}, {"gbytes_per_s", 12.6}},
                                          Json{{"memory", "pinned"}, {"direction", "H2D"}, {"gbytes_per_s", 54.0}}})}};
  const Roofs roofs = bench::roofline::roofs_from_sections(sections);
  REQUIRE(roofs.host_link("cuda") != nullptr);
  CHECK(roofs.host_link("cuda")->value == 54.0);
  CHECK(roofs.host_link("cpu") == nullptr);
  CHECK(roofs.memory_for("cuda", 1e9, 1)->name == "GPU memory");  // the link is no memory level
  Point step{.name = "cnn training step, batch 64", .kind = "step", .device = "cuda", .flops = 1e9, .bytes = 1e7,
             .seconds = 1e-3, .link_bytes = 64 * bench::kSampleBytes};
  Placement p = bench::roofline::place(step, roofs);
  CHECK(p.link == nullptr);
  CHECK(p.bound_name() == "GPU FP32 peak");
  step.flops = 1e12, step.link_bytes = 5e10, step.seconds = 2;  // 500 GFLOP/s
  p = bench::roofline::place(step, roofs);
  REQUIRE(p.link != nullptr);
  CHECK(p.bound_name() == "host link (H2D, pinned) bandwidth");
  CHECK(p.attainable == doctest::Approx(20 * 54.0));
  CHECK(p.fraction == doctest::Approx(500 / 1080.0));
}
