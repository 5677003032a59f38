// Table formatting, machine description, FMA loops, the sweep's bookkeeping.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "bench/cpu_peak.h"
#include "bench/demo.h"
#include "bench/files.h"
#include "bench/gemm_sweep.h"
#include "bench/gpu/gpu_runtime.h"
#include "bench/machine.h"
#include "bench/table.h"
#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/probes/fma_chains.h"
#include "nn/device.h"

using namespace flopslab;

TEST_CASE("table: aligned text and Markdown") {
  bench::Table t({{"name", bench::Table::Align::left}, {"value"}});
  t.add_row({"a", "1.5"});
  t.add_row({"long|name", "22"});
  CHECK(t.text() ==
        "name       value\n"
        "---------  -----\n"
        "a            1.5\n"
        "long|name     22\n");
  CHECK(t.markdown() ==
        "| name | value |\n"
        "| :--- | ---: |\n"
        "| a | 1.5 |\n"
        "| long\\|name | 22 |\n");
  CHECK_THROWS(t.add_row({"only one cell"}));
}

TEST_CASE("format helpers") {
  CHECK(bench::format_rate(1562.4) == "1562");
  CHECK(bench::format_rate(12.34) == "12.3");
  CHECK(bench::format_rate(1.234) == "1.23");
  CHECK(bench::format_rate(0.9123) == "0.912");
  CHECK(bench::format_rate(std::nan("")) == "-");
  CHECK(bench::format_shape({2048, 2048, 2048}) == "2048^3");
  CHECK(bench::format_shape({10, 20, 30}) == "10x20x30");
  CHECK(bench::format_bytes(17) == "17 B");
  CHECK(bench::format_bytes(512 * 1024) == "512 KiB");
  CHECK(bench::format_bytes(1.5 * 1024 * 1024 * 1024) == "1.50 GiB");
}

TEST_CASE("machine description") {
  const bench::MachineInfo m = bench::describe_machine();
  CHECK(m.logical_cpus >= 1);
  CHECK(m.physical_cores >= 1);
  CHECK(m.physical_cores <= m.logical_cpus);
  CHECK(m.memory_os_bytes > 0);
  CHECK_FALSE(m.cpu_vendor.empty());
  const Json j = bench::machine_json(m);
  for (const char* key : {"cpu", "topology", "memory", "os", "date_utc", "build"}) CHECK(j.contains(key));
  CHECK(j["build"].contains("git_commit"));
  CHECK(j["build"].contains("compiler"));
  CHECK(j["build"].contains("cxx_flags"));

  bench::MachineInfo fake = m;
  fake.gpu = bench::GpuStatus{};
  fake.physical_cores = 56;
  fake.cpu_brand = "Intel(R) Xeon(R) Platinum 8480+ CPU @ 2.00GHz";
  CHECK(bench::machine_slug(fake) == "intel-xeon-platinum-8480-56c");
  fake.cpu_brand = "AMD EPYC 7B13 64-Core Processor";
  CHECK(bench::machine_slug(fake) == "amd-epyc-7b13-64-56c");
  fake.gpu.usable = true;
  fake.gpu.devices = {bench::GpuDevice{.name = "NVIDIA H100 80GB HBM3"}};
  CHECK(bench::machine_slug(fake) == "amd-epyc-7b13-64-56c-h100-80gb-hbm3");
}

TEST_CASE("CPU features are consistent") {
  const CpuFeatures& f = cpu_features();
  if (f.avx512f) CHECK(f.avx2);
  if (f.avx2) CHECK(f.avx);
  const auto paths = supported_simd_paths();
  CHECK(paths.front() == SimdPath::scalar);
  CHECK(paths.back() == best_simd_path());
}

TEST_CASE("FMA loops: every supported loop runs and counts its FLOPs") {
  for (const probes::FmaLoop& loop : probes::fma_loops()) {
    CHECK(loop.flops_per_iteration() == 2.0 * loop.lanes * loop.accumulators);
    if (!loop.supported()) continue;
    const double r = loop.run(1000);
    CHECK(std::isfinite(r));
    // Each chain converges to about 1, so the lanes sum to about lanes x chains.
    CHECK(r == doctest::Approx(double(loop.lanes * loop.accumulators)).epsilon(0.05));
  }
  const probes::FmaLoop& widest = probes::widest_fma_loop(probes::Precision::fp32);
  CHECK(widest.precision == probes::Precision::fp32);
  const bench::PeakMeasurement p = bench::measure_fma_peak(widest, 2, bench::quick_timing());
  CHECK(p.flops_per_call == widest.flops_per_iteration() * (1 << 20) * 2);
  CHECK(p.gflops() > 0);
}

TEST_CASE("sweep: every row checked, one-thread rungs once, derived ratios") {
  bench::GemmSweepOptions o = bench::default_gemm_sweep(2, /*quick=*/true);
  o.shapes = {{48, 40, 33}};
  o.threads = {1, 2};
  const bench::GemmSweep sweep = bench::run_gemm_sweep(o);
  CHECK(sweep.all_checks_passed());
  CHECK(sweep.peaks.size() == 2);
  int rows_at_two = 0;
  for (const bench::GemmRow& r : sweep.rows) {
    if (r.threads == 2) {
      ++rows_at_two;
      CHECK(r.variant->multithreaded);
    }
    if (r.skipped.empty()) CHECK(r.check.compared == 48 * 40);
  }
  CHECK(rows_at_two == 5);  // openmp, bf16, openblas, onednn, onednn-bf16
  const bench::GemmRow* naive = sweep.find("naive", {48, 40, 33}, 1);
  REQUIRE(naive != nullptr);
  CHECK(sweep.naive_gflops(*naive) == naive->gflops());

  const Json j = bench::gemm_sweep_json(sweep);
  CHECK(j["rows"].size() == sweep.rows.size());
  CHECK(j["rows"][0]["variant"] == "naive");
  CHECK(j["rows"][0]["check"]["passed"] == true);
  CHECK(j["rows"][0]["vs_naive"].get<double>() == doctest::Approx(1.0));
  CHECK(j["peaks"].size() == 2);
}

TEST_CASE("sweep: a call predicted to be too slow is skipped with the reason") {
  bench::GemmSweepOptions o = bench::default_gemm_sweep(1, true);
  o.variants = {find_gemm_variant("naive")};
  o.threads = {1};
  o.shapes = {{32, 32, 32}, {1024, 1024, 1024}};
  o.max_call_seconds = 1e-4;
  const bench::GemmSweep sweep = bench::run_gemm_sweep(o);
  REQUIRE(sweep.rows.size() == 2);
  CHECK(sweep.rows[0].skipped.empty());
  CHECK(sweep.rows[1].skipped.find("one call would take about") == 0);
}

TEST_CASE("sweep: a shape larger than memory is refused before allocating") {
  bench::GemmSweepOptions o = bench::default_gemm_sweep(1, true);
  o.shapes = {{1 << 20, 1 << 20, 1}};
  const std::string problem = bench::gemm_sweep_problem(o);
  CHECK(problem.find("size 1048576x1048576x1 needs 4.40 TiB for A, B and C but only") == 0);
  CHECK(problem.find("choose smaller --sizes") != std::string::npos);
}

TEST_CASE("write_file_atomically replaces the file and leaves no temporary") {
  const std::string dir = std::filesystem::temp_directory_path() / "flopslab-atomic-test";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/out.json";
  bench::write_file_atomically(path, "first");
  bench::write_file_atomically(path, "second");
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  CHECK(s.str() == "second");
  int files = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir)) ++files;
  CHECK(files == 1);
  CHECK_THROWS(bench::write_file_atomically(dir + "/missing/x.json", "x"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("GPU tables and formulas (no GPU needed)") {
  CHECK(bench::fp32_lanes_per_sm(9, 0) == 128);
  CHECK(bench::fp32_lanes_per_sm(8, 0) == 64);
  CHECK(bench::fp32_lanes_per_sm(8, 6) == 128);
  CHECK(bench::fp32_lanes_per_sm(7, 5) == 64);
  CHECK(bench::fp32_lanes_per_sm(6, 1) == 0);  // not in the table: said so, not guessed
  CHECK(bench::pcie_gbytes_per_lane(5) * 16 == doctest::Approx(63.0).epsilon(0.01));
  CHECK(bench::pcie_gbytes_per_lane(4) * 16 == doctest::Approx(31.5).epsilon(0.01));
  CHECK(bench::pcie_gbytes_per_lane(3) * 16 == doctest::Approx(15.75).epsilon(0.01));
  bench::GpuDevice h100;
  h100.sm_count = 132;
  h100.cc_major = 9;
  h100.sm_clock_max_mhz = 1980;
  h100.memory_bus_bits = 5120;
  h100.memory_clock_max_mhz = 2619;
  h100.pcie_gen = 5;
  h100.pcie_width = 16;
  const bench::GpuPeaks p = bench::gpu_peaks(h100);
  CHECK(p.fp32_gflops == doctest::Approx(132 * 128 * 2 * 1.98));
  CHECK(p.fp32_formula == "132 SMs x 128 FP32 lanes x 2 x 1.980 GHz = 66.9 TFLOP/s");
  CHECK(p.memory_gbytes_per_s == doctest::Approx(5120 / 8.0 * 2 * 2.619));
  CHECK(p.pcie_formula == "PCIe gen 5 x16: 3.94 GB/s per lane per direction x 16 = 63.0 GB/s");
  h100.cc_major = 6;
  CHECK(bench::gpu_peaks(h100).fp32_formula.find("unknown") == 0);
}

TEST_CASE("fitting t = latency + bytes / bandwidth") {
  std::vector<std::pair<double, double>> points;
  for (double bytes = 4096; bytes <= 1 << 30; bytes *= 4) points.emplace_back(bytes, 8e-6 + bytes / 25e9);
  const auto [latency, bandwidth] = bench::fit_latency_bandwidth(points);
  CHECK(latency == doctest::Approx(8e-6).epsilon(1e-6));
  CHECK(bandwidth == doctest::Approx(25e9).epsilon(1e-6));
  CHECK(bench::fit_latency_bandwidth({{1000, 1e-3}}) == std::pair<double, double>{0, 0});  // one point cannot tell
}

TEST_CASE("the tolerance check against a reference result") {
  std::vector<float> ref(100), c(100);
  for (int i = 0; i < 100; ++i) ref[i] = c[i] = float(i) * 0.5f;
  const auto [atol, rtol] = bench::gemm_tolerance(1000, 0);
  CHECK(atol == doctest::Approx(4 * 0x1p-24 * 1000));
  CHECK(bench::compare_to_reference(c.data(), 10, ref.data(), 10, 10, 10, atol, rtol).passed());
  c[37] += 0.25f;  // one dropped term of size 0.25
  const bench::ToleranceCheck bad = bench::compare_to_reference(c.data(), 10, ref.data(), 10, 10, 10, atol, rtol);
  CHECK(bad.over == 1);
  CHECK(bad.max_abs_diff == doctest::Approx(0.25));
  c[37] = std::numeric_limits<float>::quiet_NaN();
  CHECK(bench::compare_to_reference(c.data(), 10, ref.data(), 10, 10, 10, atol, rtol).non_finite == 1);
  const auto [atol_bf16, rtol_bf16] = bench::gemm_tolerance(1000, 0x1p-8);
  CHECK(atol_bf16 > atol);
  CHECK(rtol_bf16 > rtol);
}

TEST_CASE("the demo's bus scene races copies to a GPU: refused with the reason where there is none") {
  CHECK(bench::scene_problem("race", 192, 1) == "--scene: 'race' is not a scene (valid: cores, gemm, train, bus, idle)");
  if (const char* why = nn::cuda_unusable()) {
    CHECK(bench::scene_problem("bus", 192, 1) == std::string("--scene bus races copies to a GPU: ") + why);
  } else {
    CHECK(bench::scene_problem("bus", 192, 1).empty());
    MESSAGE("a GPU is usable here: test_gpu_probes.cpp races the bus scene");
  }
}
