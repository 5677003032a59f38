// Table formatting, machine description, FMA loops, the sweep's bookkeeping.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "bench/scaling/allreduce_bench.h"
#include "harness/machine/cpu_peak.h"
#include "demo/demo.h"
#include "harness/files.h"
#include "bench/sweeps/gemm_sweep.h"
#include "harness/machine/gpu_runtime.h"
#include "report/html_report.h"
#include "harness/machine/machine.h"
#include "report/report_compare.h"
#include "bench/scaling/scale_model.h"
#include "bench/probes/last_level.h"
#include "harness/simd_cap.h"
#include "kernels/cpu/gemm/packed.h"
#include "kernels/cpu/isa_targets.h"
#include "kernels/cuda/probes/gpu_probes.h"
#include "harness/table.h"
#include "kernels/cpu/arm_cores.h"
#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/probes/fma_chains.h"
#include "kernels/registry.h"
#include "nn/device.h"
#include "harness/format.h"
#include "harness/fit.h"

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
  if (f.sve) CHECK(f.neon);
  if (f.sve) CHECK((f.sve_bits >= 128 && f.sve_bits <= 2048 && f.sve_bits % 128 == 0));
  if (f.neon || f.sve) CHECK_FALSE((f.avx || f.fma));  // one architecture's features at a time
  const auto paths = supported_simd_paths();
  CHECK(paths.front() == SimdPath::scalar);
  CHECK(paths.back() == best_simd_path());
#if defined(__aarch64__)
  CHECK(f.neon == (simd_cap() != "scalar"));  // NEON is in every aarch64 core
  CHECK_FALSE(f.brand.empty());  // a core's name, or its MIDR numbers
#endif
}

TEST_CASE("aarch64 cores: named by implementer and part, with their FMA lanes") {
  CHECK(arm_core(0x41, 0xd0c).name == "Neoverse N1");
  CHECK(arm_core(0x41, 0xd0c).implementer == "ARM");
  CHECK(arm_core(0x41, 0xd0c).fp32_fma_lanes_per_cycle == 8);
  CHECK(arm_core(0x41, 0xd4f).name == "Neoverse V2");
  CHECK(arm_core(0x41, 0xd4f).fp32_fma_lanes_per_cycle == 16);
  CHECK(arm_core(0x46, 0x001).fp32_fma_lanes_per_cycle == 32);
  CHECK(arm_core(0x61, 0x023).implementer == "Apple");
  CHECK(arm_core(0x41, 0xd99).name == "aarch64 core 0x41:0xd99");  // a part the table lacks
  CHECK(arm_core(0x41, 0xd99).fp32_fma_lanes_per_cycle == 0);      // the measured rate decides
  CHECK(arm_core(0x12, 0x345).implementer == "unknown");
  CHECK(arm_core(0, 0).name == "aarch64 core (MIDR not readable)");
}

TEST_CASE("the ISA level follows the features, and FLOPSLAB_SIMD caps it (the peers too)") {
  const CpuFeatures& f = cpu_features();
  const IsaLevel level = isa_level();
  if (level >= IsaLevel::v3) CHECK((f.avx2 && f.fma && f.f16c && f.bmi2));
  if (level == IsaLevel::v4) CHECK((f.avx512f && f.avx512bw && f.avx512vl));
  if (f.avx512f && f.avx512bw && f.avx512cd && f.avx512dq && f.avx512vl && f.avx2 && f.fma && f.f16c && f.bmi1 &&
      f.bmi2 && f.lzcnt && f.movbe)
    CHECK(level == IsaLevel::v4);
  const std::string cap = simd_cap();
  const CpuFeatures& real = uncapped_cpu_features();
  if (cap == "avx2" || cap == "scalar") {
    CHECK_FALSE(f.avx512f);
    CHECK_FALSE(f.amx_tile);
    CHECK_FALSE(f.amx_bf16);
    CHECK_FALSE(f.avx512_bf16);
    CHECK(level != IsaLevel::v4);
    CHECK(best_simd_path() != SimdPath::avx512);
  }
  if (cap == "avx2") CHECK(f.avx2 == real.avx2);  // what the cap does not hide stays
  if (cap == "scalar") {
    CHECK_FALSE(f.avx);
    CHECK_FALSE(f.fma);
    CHECK(level == IsaLevel::baseline);
    CHECK(best_simd_path() == SimdPath::scalar);
  }
  // The peers are capped too: OpenBLAS's core and oneDNN's ISA were set before this process
  // started again (harness/simd_cap.h), where the real CPU is wider than the cap.
  if ((cap == "avx2" && real.can_avx512()) || (cap == "scalar" && real.avx)) {
    REQUIRE(std::getenv("OPENBLAS_CORETYPE") != nullptr);
    CHECK(std::string(std::getenv("OPENBLAS_CORETYPE")) == (cap == "avx2" ? "Haswell" : "Prescott"));
    REQUIRE(std::getenv("ONEDNN_MAX_CPU_ISA") != nullptr);
    CHECK(std::string(std::getenv("ONEDNN_MAX_CPU_ISA")) == (cap == "avx2" ? "AVX2" : "SSE41"));
    const GemmVariant* openblas = find_gemm_variant("openblas");
    if (openblas != nullptr && openblas->available() && openblas->detail != nullptr)
      CHECK(openblas->detail() == std::string("kernels for core ") + std::getenv("OPENBLAS_CORETYPE"));
  }
  if (cap.empty()) CHECK(bench::simd_cap_summary().empty());
  else CHECK(bench::simd_cap_summary().rfind("FLOPSLAB_SIMD=" + cap + ": ", 0) == 0);
}

TEST_CASE("FMA loops: every supported loop runs and counts its FLOPs") {
  const CpuFeatures& f = cpu_features();
  for (const probes::FmaLoop& loop : probes::fma_loops()) {
    INFO(loop.name << (loop.fused ? " (FMA)" : " (mul+add)"));
    CHECK(loop.flops_per_iteration() == 2.0 * loop.lanes * loop.products_per_lane * loop.accumulators);
    // AMX's tile product adds 32 products per lane (one instruction per 16 cycles), BFMMLA's
    // block product 4, the pair dot products 2.
    const std::string name = loop.name;
    const bool tile = name == "amx-bf16", block = name.find("mmla") != std::string::npos;
    CHECK(loop.products_per_lane == (loop.precision != probes::Precision::bf16 ? 1 : tile ? 32 : block ? 4 : 2));
    CHECK(loop.issue_cycles == (tile ? 16 : 1));
    // FMA or mul+add, never both and never neither: one twin of each scalar and SSE loop runs.
#if defined(__x86_64__)
    if (loop.vector_bits <= 128) CHECK(loop.supported() == (loop.fused == f.fma));
#else
    // aarch64: FMADD and FMLA are in every core, so the mul+add twins never run; x86's never do.
    const std::string isa = loop.isa;
    if (!loop.fused) CHECK_FALSE(loop.supported());
    if (isa == "scalar" && loop.fused) CHECK(loop.supported());
    if (isa.rfind("neon", 0) == 0)
      CHECK(loop.supported() == (f.neon && (loop.precision != probes::Precision::bf16 || f.arm_bf16)));
    if (isa == "sve") CHECK(loop.supported() == f.can_sve());
    if (isa == "sve" && f.can_sve()) CHECK(loop.vector_bits == f.sve_bits);
    if (isa.rfind("sse", 0) == 0 || isa.rfind("avx", 0) == 0) CHECK_FALSE(loop.supported());
#endif
    if (!loop.supported()) continue;
    const double r = loop.run(1000);
    CHECK(std::isfinite(r));
    // Each chain converges to about 1, so the lanes sum to about lanes x chains.
    CHECK(r == doctest::Approx(double(loop.lanes * loop.accumulators)).epsilon(0.05));
  }
#if defined(__x86_64__)
  CHECK(probes::find_fma_loop("avx512-bf16")->supported() == (f.avx512_bf16 && f.can_avx512()));
  const std::vector<const char*> everywhere = {"scalar-fp32", "scalar-fp64", "sse-fp32", "sse-fp64"};
#else
  std::vector<const char*> everywhere = {"scalar-fp32", "scalar-fp64"};
  if (f.neon) everywhere.insert(everywhere.end(), {"neon-fp32", "neon-fp64"});
#endif
  for (const char* name : everywhere) {
    INFO(name);
    REQUIRE(probes::find_fma_loop(name) != nullptr);
    CHECK(probes::find_fma_loop(name)->supported());
  }
  CHECK(probes::find_fma_loop("no-such-loop") == nullptr);
  const probes::FmaLoop& widest = probes::widest_fma_loop(probes::Precision::fp32);
  CHECK(widest.precision == probes::Precision::fp32);
  CHECK(widest.supported());
#if defined(__x86_64__)
  CHECK(widest.fused == f.fma);
  CHECK(widest.vector_bits ==
        (f.can_avx512() && f.fma ? 512 : (f.can_avx2_fma() || (f.avx && !f.fma)) ? 256 : 128));
#else
  CHECK(widest.fused);
  CHECK(widest.vector_bits == (best_simd_path() == SimdPath::sve ? f.sve_bits : f.neon ? 128 : 32));
#endif
}

TEST_CASE("bf16 dot-product loops: every product of every pair or block is added") {
  int ran = 0;
  for (const probes::FmaLoop& loop : probes::fma_loops()) {
    if (loop.precision != probes::Precision::bf16 || !loop.supported()) continue;
    INFO(loop.name);
    ++ran;
    // Each lane gains exactly products x 2^-20 per iteration: a kernel doing one product per
    // pair (or half a block) would gain half.
    const double gain = loop.run(1000) - loop.run(0);
    CHECK(gain == doctest::Approx(double(loop.lanes) * loop.accumulators * 1000 * probes::bf16_gain_per_iteration(loop))
                      .epsilon(1e-6));
  }
  const CpuFeatures& f = cpu_features();
#if defined(__x86_64__)
  const bool amx = f.amx_bf16 && request_amx_permission();
  CHECK(ran == int(f.avx512_bf16 && f.can_avx512()) + int(amx));
  if (!amx) MESSAGE("the AMX tile loop did not run: " << (f.amx_bf16 ? "Linux refused the tile state" : "no AMX-BF16 here"));
#else
  CHECK(ran == (FLOPSLAB_HAVE_ARM_BF16_KERNELS && f.neon && f.arm_bf16 ? 2 : 0));  // BFDOT and BFMMLA
#endif
}

// Apart from the loops' test: a million iterations per call is seconds per call under qemu,
// so the aarch64 run under emulation (scripts/test-aarch64) leaves this one out.
TEST_CASE("FMA peak: the widest loop measured on two threads counts both") {
  const probes::FmaLoop& widest = probes::widest_fma_loop(probes::Precision::fp32);
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
  // openmp, bf16, amx-bf16, openblas, onednn, onednn-bf16, mkl, openblas-pypi (a row either way:
  // skipped, with the reason, where the CPU has no AMX or a peer is not installed)
  CHECK(rows_at_two == 8);
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
  // Missing directories are made; a file in the way is an OutputError naming the path given.
  bench::write_file_atomically(dir + "/missing/deeper/x.json", "x");
  CHECK(std::filesystem::is_regular_file(dir + "/missing/deeper/x.json"));
  CHECK_THROWS_AS(bench::write_file_atomically(path + "/x.json", "x"), bench::OutputError);
  CHECK_THROWS_WITH(bench::write_file_atomically(path + "/x.json", "x"),
                    doctest::Contains(("cannot create " + path + "/x.json: ").c_str()));
  std::filesystem::remove_all(dir);
}

TEST_CASE("an output location is checked before anything is written, and nothing is left by the check") {
  const std::string dir = std::filesystem::temp_directory_path() / "flopslab-output-test";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string file = dir + "/file";
  std::ofstream(file) << "x";
  CHECK(bench::output_location_problem(dir + "/new/deeper/run").empty());
  CHECK_FALSE(std::filesystem::exists(dir + "/new"));  // checked, not made
  CHECK(bench::output_location_problem(file + "/run") ==
        "cannot create " + file + "/run: " + file + " is a file, not a directory");
  CHECK(bench::output_location_problem(file + "/a/b/run") ==
        "cannot create " + file + "/a/b/run: " + file + " is a file, not a directory");
  CHECK(bench::output_location_problem("/proc/flopslab-test/run") ==
        "cannot create /proc/flopslab-test/run: /proc takes no new files");
  int entries = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir)) ++entries;
  CHECK(entries == 1);  // the probe entry is gone
  bench::create_output_dir(dir + "/new/deeper/run");
  CHECK(std::filesystem::is_directory(dir + "/new/deeper/run"));
  CHECK_THROWS_WITH(bench::create_output_dir(file + "/run"),
                    ("cannot create " + file + "/run: " + file + " is a file, not a directory").c_str());
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
  // Tensor cores, dense bf16 with float32 sums: 4096 FLOPs per clock per SM on Hopper, 2048 on
  // A100; TF32 half; GeForce and workstation Ampere/Ada differ, so they are not guessed.
  CHECK(p.tensor_bf16_gflops == doctest::Approx(132 * 4096 * 1.98));
  CHECK(p.tensor_tf32_gflops == doctest::Approx(132 * 2048 * 1.98));
  CHECK(p.tensor_formula == "132 SMs x 4096 bf16 FLOPs per clock x 1.980 GHz = 1070.5 TFLOP/s (TF32 half of it)");
  CHECK(bench::tensor_bf16_flops_per_sm_clock(8, 0) * 108 * 1.41 == doctest::Approx(311.9e3).epsilon(0.01));
  CHECK(bench::tensor_bf16_flops_per_sm_clock(8, 9) == 0);
  // The mma.sync chains' counts: a warp's m16n8k16 product is 2*16*8*16 FLOPs.
  CHECK(probes::gpu::mma_flops(64, 10, true) == 2 * 10 * probes::gpu::kMmaChains * 4096.0);
  CHECK(probes::gpu::mma_flops(64, 10, false) == 2 * 10 * probes::gpu::kMmaChains * 2048.0);
  CHECK(probes::gpu::mma_thread_sum(1024, true) == probes::gpu::kMmaChains * 4 * 1024 * 16 / double(1 << 20));
  h100.cc_major = 6;
  CHECK(bench::gpu_peaks(h100).fp32_formula.find("unknown") == 0);
  CHECK(bench::gpu_peaks(h100).tensor_bf16_gflops == 0);
  CHECK(bench::gpu_peaks(h100).tensor_formula.find("unknown") == 0);
}

TEST_CASE("the GPU's host link is named for what it is: PCIe, NVLink-C2C or an integrated GPU") {
  using bench::GpuLink;
  // An H100 on PCIe, with HMM (pageable access through the driver, not the CPU's page tables).
  bench::GpuDevice pcie;
  pcie.pcie_gen = 5, pcie.pcie_width = 16, pcie.pageable_memory_access = true;
  CHECK(bench::gpu_link(pcie) == GpuLink::pcie);
  CHECK(bench::gpu_peaks(pcie).pcie_formula.rfind("PCIe gen 5 x16", 0) == 0);
  // GH200: the Hopper GPU reaches Grace's memory coherently, through the CPU's page tables, with
  // native atomics; its PCIe figures (if NVML gives any) are not the data path.
  bench::GpuDevice gh200 = pcie;
  gh200.uses_host_page_tables = true, gh200.host_native_atomics = true;
  CHECK(bench::gpu_link(gh200) == GpuLink::nvlink_c2c);
  CHECK(std::string(bench::gpu_link_name(GpuLink::nvlink_c2c)) == "NVLink-C2C");
  const bench::GpuPeaks c2c = bench::gpu_peaks(gh200);
  CHECK(c2c.pcie_gbytes_per_s == 450);
  CHECK(c2c.pcie_formula.rfind("NVLink-C2C (coherent): rated 900 GB/s both directions = 450 GB/s each way", 0) == 0);
  CHECK(c2c.pcie_formula.find("PCIe") == std::string::npos);
  // A Jetson Orin or DGX Spark: integrated, no bus at all (whatever else the properties say).
  bench::GpuDevice orin = gh200;
  orin.integrated = true;
  CHECK(bench::gpu_link(orin) == GpuLink::integrated);
  const bench::GpuPeaks shared = bench::gpu_peaks(orin);
  CHECK(shared.pcie_gbytes_per_s == 0);
  CHECK(shared.pcie_formula.rfind("none: an integrated GPU uses the CPU's own DRAM", 0) == 0);
  // Both halves say so in the summary and the JSON.
  bench::GpuStatus status;
  status.usable = true;
  status.devices = {orin};
  CHECK(bench::gpu_summary(status).find("GPU link     integrated (shared DRAM) (the GPU reads pageable host memory in place)") !=
        std::string::npos);
  CHECK(bench::gpu_json(status)["devices"][0]["host_link"]["kind"] == "integrated (shared DRAM)");
  status.devices = {gh200};
  CHECK(bench::gpu_summary(status).find("GPU link     NVLink-C2C") != std::string::npos);
  CHECK(bench::gpu_summary(status).find("GPU link     PCIe") == std::string::npos);
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

TEST_CASE("the all-reduce's alpha-beta fit and the ring model") {
  std::vector<double> bytes, seconds;
  for (double b = 4; b <= 64 << 20; b *= 4) bytes.push_back(b), seconds.push_back(2e-6 + b * 0.25e-9);
  const bench::AlphaBeta f = bench::fit_alpha_beta(bytes, seconds);
  CHECK(f.alpha_s == doctest::Approx(2e-6).epsilon(1e-9));
  CHECK(f.beta_s_per_byte == doctest::Approx(0.25e-9).epsilon(1e-9));
  CHECK(f.bytes_per_s() == doctest::Approx(4e9));
  CHECK_THROWS_WITH_AS(bench::fit_alpha_beta({64, 64}, {1e-6, 1e-6}), "fit_alpha_beta: needs two or more different sizes",
                       std::invalid_argument);
  CHECK_THROWS_AS(bench::fit_alpha_beta({4, 64}, {0, 1e-6}), std::invalid_argument);
  // A negative intercept (times falling short of a line) is held at 0: a fit through the origin.
  const bench::AlphaBeta origin = bench::fit_alpha_beta({1000, 2000}, {0.5e-6, 1.5e-6});
  CHECK(origin.alpha_s == 0);
  CHECK(origin.beta_s_per_byte > 0);

  // The ring: 2(N-1) steps of n/N bytes. 4 ranks, 1 MB, alpha 10 us, 1 GB/s: 6 x 10 us + 1.5 ms.
  const bench::AlphaBeta link{.alpha_s = 10e-6, .beta_s_per_byte = 1e-9};
  CHECK(bench::ring_bandwidth_seconds(link, 4, 1e6) == doctest::Approx(1.5e-3));
  CHECK(bench::ring_allreduce_seconds(link, 4, 1e6) == doctest::Approx(1.56e-3));
  CHECK(bench::ring_allreduce_seconds(link, 1, 1e6) == 0);
}

TEST_CASE("the all-reduce model returns the measured times on the measured ranks and rescales the ring for others") {
  bench::AllreduceStudy s{.world = 2, .backend = "test"};
  for (std::int64_t b : {1024, 4096, 16384}) {
    bench::CollectivePoint p{.bytes = b};
    p.timing.median = 1e-6 + double(b) * 1e-9;
    s.allreduce.push_back(p), s.ring_step.push_back(p);
  }
  s.allreduce_fit = {.alpha_s = 1e-6, .beta_s_per_byte = 1e-9};
  const bench::AllreduceModel m = bench::allreduce_model(s);
  CHECK(m.link.alpha_s == doctest::Approx(0.5e-6));  // 2(W-1) = 2 ring steps on 2 ranks
  CHECK(m.link.beta_s_per_byte == doctest::Approx(1e-9));  // 2(W-1)/W = 1
  CHECK(m.seconds_for(2, 4096) == doctest::Approx(1e-6 + 4096e-9));
  CHECK(m.seconds_for(1, 4096) == 0);
  // 8 ranks: latency 14 x 0.5 us, bandwidth part (measured - 1 us) x (14/8) / 1.
  CHECK(m.seconds_for(8, 4096) == doctest::Approx(14 * 0.5e-6 + 4096e-9 * 14 / 8));
  // Outside the measured sizes: the ring on the fitted link.
  CHECK(m.seconds_for(8, 1 << 20) == doctest::Approx(bench::ring_allreduce_seconds(m.link, 8, 1 << 20)));
  // The JSON round trip keeps every number the model uses.
  const bench::AllreduceStudy back = bench::allreduce_study_from_json(bench::to_json(s));
  CHECK(back.world == 2);
  CHECK(back.allreduce.size() == 3);
  CHECK(back.allreduce[1].timing.median == s.allreduce[1].timing.median);
  CHECK(back.allreduce_fit.beta_s_per_byte == s.allreduce_fit.beta_s_per_byte);
  CHECK_THROWS_AS(bench::allreduce_study_from_json(Json{{"world", 2}}), std::invalid_argument);
}

TEST_CASE("the cost model: buckets, overlap and efficiency") {
  // Two buckets of 1 MB and 3 MB (first cap 1 MB), backward 10 ms, forward 5 ms; each all-reduce
  // costs 1 ms per MB on the link (2 ranks: 2(N-1)/N = 1, alpha 0).
  bench::ScaleWorkload w{.name = "toy", .parameter_bytes = {3000000, 1000000}, .per_rank_batch = 8,
                         .forward_s = 5e-3, .backward_s = 10e-3};
  const bench::AllreduceModel link{.link = {.alpha_s = 0, .beta_s_per_byte = 1e-9}};
  const nn::BucketSizes sizes{.first_bytes = 1000000, .bytes = 3000000};
  const bench::ScalePoint off = bench::predict_scaling(w, link, 2, false, sizes);
  CHECK(off.buckets == 2);
  CHECK(off.allreduce_s == doctest::Approx(4e-3));
  CHECK(off.exposed_s == doctest::Approx(4e-3));
  CHECK(off.step_s == doctest::Approx(19e-3));
  CHECK(off.efficiency == doctest::Approx(15.0 / 19));
  // With overlap the 1 MB bucket is ready after 2.5 ms of backward and crosses by 3.5 ms; the
  // 3 MB bucket is ready at the end (10 ms) and crosses by 13 ms: 3 ms exposed.
  const bench::ScalePoint on = bench::predict_scaling(w, link, 2, true, sizes);
  CHECK(on.exposed_s == doctest::Approx(3e-3));
  CHECK(on.efficiency == doctest::Approx(15.0 / 18));
  CHECK(bench::predict_scaling(w, link, 1, true, sizes).efficiency == 1);
  CHECK_THROWS_AS(bench::predict_scaling(w, link, 0, true, sizes), std::invalid_argument);
  // More ranks, more latency: efficiency never rises with N.
  const bench::AllreduceModel slow{.link = {.alpha_s = 1e-4, .beta_s_per_byte = 1e-9}};
  double last = 1;
  for (int n = 2; n <= 1024; n *= 2) {
    const double e = bench::predict_scaling(w, slow, n, false, sizes).efficiency;
    CHECK(e <= last);
    last = e;
  }
  // Against 15 ms of compute: 2 buckets x 2(N-1) x 0.1 ms of latency and 2(N-1)/N x 4 ms of
  // bandwidth make 13.5 ms at N = 16 and 20 ms at N = 32.
  CHECK(bench::ranks_where_communication_dominates(w, slow, sizes) == 32);
  CHECK(bench::ranks_where_communication_dominates(w, link, sizes) == 0);
}

TEST_CASE("ResNet-50's parameter list and DDP's bucket rule") {
  const std::vector<std::int64_t> r = bench::resnet50_parameter_bytes();
  CHECK(r.size() == 161);  // 53 convolutions and their 53 batch norms (scale and shift), and the classifier
  std::int64_t total = 0;
  for (std::int64_t b : r) total += b;
  CHECK(total == 25557032 * 4);  // torchvision's resnet50: 25,557,032 parameters
  // Filled from the last parameter back: 1 MiB cap for the first bucket, then 25 MiB.
  const std::vector<std::int64_t> sizes{600 << 10, 300 << 10, 400 << 10, 900 << 10};
  CHECK(nn::bucket_bytes(sizes, {}) == std::vector<std::int64_t>{900 << 10, (400 + 300 + 600) << 10});
  CHECK(nn::bucket_bytes(sizes, {.first_bytes = 1 << 20, .bytes = 1 << 20}) ==
        std::vector<std::int64_t>{900 << 10, 700 << 10, 600 << 10});
  CHECK(nn::assign_buckets(sizes, {}) == std::vector<std::size_t>{1, 1, 1, 0});
  CHECK(nn::bucket_bytes({}, {}).empty());
}

TEST_CASE("read_csv: rows by column name, and a row that does not match the header") {
  const std::string path = (std::filesystem::temp_directory_path() / "flopslab-read-csv-test.csv").string();
  bench::write_file_atomically(path, "epoch,loss\n1,0.5\n2,0.25\n");
  const auto rows = bench::read_csv(path);
  REQUIRE(rows.size() == 2);
  CHECK(rows[1].at("loss") == "0.25");
  bench::write_file_atomically(path, "epoch,loss\n1\n");
  CHECK_THROWS_WITH(bench::read_csv(path), (path + ": row 2 has 1 cells for 2 columns").c_str());
  std::filesystem::remove(path);
  CHECK_THROWS_WITH(bench::read_csv(path), ("cannot read " + path).c_str());
}

TEST_CASE("compare: figures matched by section and name, ratios B / A, the rest listed") {
  const Json a = Json::parse(R"({"schema": "flopslab-report/1", "machine": {"cpu": {"brand": "A"}}, "sections": {
      "cpu": {"flops": {"points": [{"loop": "avx2-fp32", "threads": 1, "gflops_best": 100}]},
              "latency": {"levels": [{"level": "L1", "latency_ns": 1.0}, {"level": "L3", "latency_ns": 10}]}},
      "training": {"models": [{"model": "mlp", "samples_per_s": 1000, "test_accuracy": 0.85}]}}})");
  const Json b = Json::parse(R"({"schema": "flopslab-report/1", "machine": {"cpu": {"brand": "B"}}, "sections": {
      "cpu": {"flops": {"points": [{"loop": "avx2-fp32", "threads": 1, "gflops_best": 150},
                                   {"loop": "avx512-fp32", "threads": 1, "gflops_best": 300}]},
              "latency": {"levels": [{"level": "L1", "latency_ns": 0.5}]}},
      "gpu": {"probes": {}}}})");
  const bench::ReportComparison c = bench::compare_reports(a, b);
  REQUIRE(c.both.size() == 2);
  CHECK(c.both[0].name == "peak avx2-fp32, 1 thread");
  CHECK(c.both[0].ratio() == doctest::Approx(1.5));
  CHECK(c.both[1].name == "latency L1");
  CHECK_FALSE(c.both[1].higher_is_better);
  CHECK(c.only_a == std::vector<std::string>{"cpu: latency L3", "training: mlp samples/s", "training: mlp test accuracy"});
  CHECK(c.only_b == std::vector<std::string>{"cpu: peak avx512-fp32, 1 thread"});
  CHECK(c.sections_a_only == std::vector<std::string>{"training"});
  CHECK(c.sections_b_only == std::vector<std::string>{"gpu"});
  const auto tables = bench::comparison_tables(c);
  REQUIRE(tables.size() == 1);
  CHECK(tables[0].second.text().find("0.500  B") != std::string::npos);  // half the latency: B is better
  CHECK_THROWS_WITH_AS(bench::compare_reports(a, Json{{"x", 1}}), "not a flopslab report (no schema and sections)",
                       std::invalid_argument);
}

TEST_CASE("compare across architectures: an x86 and an aarch64 report meet on the best vector loop per precision") {
  const Json x86 = Json::parse(R"json({"schema": "flopslab-report/1", "machine": {"cpu": {"brand": "AMD EPYC"}}, "sections": {
      "cpu": {"flops": {"points": [
          {"loop": "scalar-fp32", "isa": "scalar", "precision": "fp32", "threads": 1, "gflops_best": 14},
          {"loop": "avx2-fp32", "isa": "avx2 (256-bit)", "precision": "fp32", "threads": 1, "gflops_best": 110},
          {"loop": "avx512-fp32", "isa": "avx-512 (512-bit)", "precision": "fp32", "threads": 1, "gflops_best": 117},
          {"loop": "avx512-fp64", "isa": "avx-512 (512-bit)", "precision": "fp64", "threads": 1, "gflops_best": 58}]},
              "bandwidth": {"points": [{"kernel": "triad", "threads": 1, "bytes": 1e9, "gbytes_per_s": 30}]}},
      "roofline": {"ridges": [{"memory": "DRAM", "device": "cpu", "threads": 1, "intensity": 3.9}]}}})json");
  const Json arm = Json::parse(R"json({"schema": "flopslab-report/1", "machine": {"cpu": {"brand": "Neoverse-V2"}}, "sections": {
      "cpu": {"flops": {"points": [
          {"loop": "scalar-fp32", "isa": "scalar", "precision": "fp32", "threads": 1, "gflops_best": 14},
          {"loop": "neon-fp32", "isa": "neon (128-bit)", "precision": "fp32", "threads": 1, "gflops_best": 110},
          {"loop": "sve-fp32", "isa": "sve (128-bit)", "precision": "fp32", "threads": 1, "gflops_best": 112}]},
              "bandwidth": {"points": [{"kernel": "triad", "threads": 1, "bytes": 1e9, "gbytes_per_s": 45}]}},
      "roofline": {"ridges": [{"memory": "DRAM", "device": "cpu", "threads": 1, "intensity": 2.5}]}}})json");
  const bench::ReportComparison c = bench::compare_reports(x86, arm);
  auto find = [&](const std::string& name) -> const bench::ComparedFigure* {
    for (const bench::ComparedFigure& f : c.both)
      if (f.name == name) return &f;
    return nullptr;
  };
  const bench::ComparedFigure* peak = find("peak fp32, best vector loop, 1 thread");
  REQUIRE(peak != nullptr);
  CHECK(peak->a == 117);  // AVX-512, the better of the two x86 vector loops
  CHECK(peak->b == 112);  // SVE
  REQUIRE(find("peak scalar-fp32, 1 thread") != nullptr);
  REQUIRE(find("bandwidth triad, 1 thread, best") != nullptr);
  CHECK(find("bandwidth triad, 1 thread, best")->ratio() == doctest::Approx(1.5));
  // fp64 only in A; the per-ISA loops listed as only A's or only B's
  CHECK(std::count(c.only_a.begin(), c.only_a.end(), "cpu: peak fp64, best vector loop, 1 thread") == 1);
  CHECK(std::count(c.only_a.begin(), c.only_a.end(), "cpu: peak avx512-fp32, 1 thread") == 1);
  CHECK(std::count(c.only_b.begin(), c.only_b.end(), "cpu: peak sve-fp32, 1 thread") == 1);
  // The ridge moved left on B: more bandwidth per FLOP; lower is better.
  const bench::ComparedFigure* ridge = find("ridge DRAM (cpu), 1 thread");
  REQUIRE(ridge != nullptr);
  CHECK(ridge->ratio() == doctest::Approx(2.5 / 3.9));
  CHECK_FALSE(ridge->higher_is_better);
  CHECK(c.machine_a == "AMD EPYC");
  CHECK(c.machine_b == "Neoverse-V2");
}

TEST_CASE("report.html: the report's Markdown as one page, tables sortable, charts embedded") {
  CHECK(bench::base64("") == "");
  CHECK(bench::base64("f") == "Zg==");
  CHECK(bench::base64("fo") == "Zm8=");
  CHECK(bench::base64("foobar") == "Zm9vYmFy");
  const std::string dir = (std::filesystem::temp_directory_path() / "flopslab-html-test").string();
  std::filesystem::create_directories(dir);
  bench::write_file_atomically(dir + "/chart.png", "PNG!");
  const std::string md =
      "# Title <1>\n\nSome `code` and **bold** text,\ncontinued.\n\n| a | b \\| c |\n| :--- | ---: |\n| 1 | 2 |\n\n"
      "![the chart](chart.png)\n![gone](missing.png)\n\n- one\n- two\n\n> a note\n\n```\nx < y\n```\n"
      "[outside](https://example.com)\n";
  const std::string page = bench::markdown_to_html(md, dir, "t");
  CHECK(page.find("<h1>Title &lt;1&gt;</h1>") != std::string::npos);
  CHECK(page.find("<p>Some <code>code</code> and <strong>bold</strong> text, continued.</p>") != std::string::npos);
  CHECK(page.find("<table class=\"sortable\"><thead><tr><th>a</th><th>b | c</th></tr></thead><tbody>\n<tr><td>1</td><td>2</td></tr>") !=
        std::string::npos);
  CHECK(page.find("src=\"data:image/png;base64,UE5HIQ==\"") != std::string::npos);
  CHECK(page.find("[chart not drawn: gone]") != std::string::npos);
  CHECK(page.find("<ul>\n<li>one</li>\n<li>two</li>\n</ul>") != std::string::npos);
  CHECK(page.find("<blockquote>a note</blockquote>") != std::string::npos);
  CHECK(page.find("<pre>x &lt; y\n</pre>") != std::string::npos);
  CHECK(page.find("https://") == page.find("outside (https://example.com)") + 9);  // text, not a link
  CHECK(page.find("href=") == std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST_CASE("the last cache boundary by pointer chasing lies between the L2 and DRAM, or is not claimed") {
  // What the GEMM blocks use where the OS's L3 is implausible (never on this machine, so run
  // here directly): a short curve from 1 MiB to 64 MiB.
  const bench::LastLevelMeasurement m = bench::measure_last_cache_boundary(1 << 20, 64 << 20);
  INFO("boundary " << m.boundary_bytes << " bytes, " << m.cache_ns << " ns then " << m.dram_ns << " ns");
  CHECK(m.boundary_bytes >= 0);
  if (m.boundary_bytes > 0) {
    CHECK(m.boundary_bytes >= (1 << 20));
    CHECK(m.boundary_bytes <= (64 << 20));
    CHECK(m.dram_ns > m.cache_ns);  // the plateau named DRAM is the slower one
  }
  // On a machine whose L3 is plausible, the GEMM blocks keep it and nothing is said.
  if (!gemm::packed::last_level_implausible(gemm::packed::cache_geometries()))
    CHECK(bench::size_gemm_blocks_from_measured_caches().empty());
}
