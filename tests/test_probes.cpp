// The CPU probes: the kernels compute what they claim, the byte and FLOP accounting follows
// its conventions, level detection finds the steps of synthetic staircases, the machine
// model's formulas and tables, and each probe's report has its parts.
#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <ctime>  // clock_gettime
#include <set>
#include <vector>

#include "harness/counters.h"
#include "harness/machine/cpu_model.h"
#include "harness/affinity.h"
#include "harness/cpu_share.h"
#include "harness/machine/levels.h"
#include "harness/machine/likwid.h"
#include "harness/memory.h"
#include "bench/probes/probe.h"
#include "bench/probes/stream_runner.h"
#include "kernels/cpu/probes/clock.h"
#include "kernels/cpu/probes/fma_chains.h"
#include "kernels/cpu/probes/locality.h"
#include "kernels/cpu/probes/pointer_chase.h"
#include "kernels/cpu/probes/stream.h"

using namespace flopslab;

namespace {

// A staircase: latency `levels[i].second` up to `levels[i].first` bytes, then a rise over half
// an octave to the next level, sampled at 4 points per octave from 1 KiB; `noise` multiplies
// each point by a deterministic factor in [1 - noise, 1 + noise].
std::vector<bench::CurvePoint> staircase(const std::vector<std::pair<double, double>>& levels, double to,
                                         double noise = 0) {
  std::vector<bench::CurvePoint> curve;
  for (int i = 0;; ++i) {
    const double bytes = 1024.0 * std::pow(2.0, i / 4.0);
    if (bytes > to) break;
    double latency = levels.back().second;
    for (std::size_t k = 0; k < levels.size(); ++k) {
      if (bytes <= levels[k].first) {
        latency = levels[k].second;
        break;
      }
      if (k + 1 < levels.size() && bytes <= levels[k].first * std::sqrt(2.0)) {  // the rise
        const double f = std::log2(bytes / levels[k].first) / 0.5;
        latency = levels[k].second * std::pow(levels[k + 1].second / levels[k].second, f);
        break;
      }
    }
    const double wobble = noise * std::sin(double(i) * 12.9898);
    curve.push_back({bytes, latency * (1 + wobble)});
  }
  return curve;
}

}  // namespace

TEST_CASE("level detection finds the steps of a clean staircase") {
  const auto curve = staircase({{32 << 10, 1.2}, {1 << 20, 4.0}, {32 << 20, 15.0}, {1e30, 95.0}}, double(1 << 30));
  const bench::Levels levels = bench::find_levels(curve);
  REQUIRE(levels.plateaus.size() == 4);
  REQUIRE(levels.boundaries.size() == 3);
  CHECK(levels.plateaus[0].latency == doctest::Approx(1.2));
  CHECK(levels.plateaus[3].latency == doctest::Approx(95.0));
  const double truth[] = {32 << 10, 1 << 20, 32 << 20};
  for (int k = 0; k < 3; ++k) {
    INFO("boundary " << k << " at " << levels.boundaries[k].bytes);
    CHECK(levels.boundaries[k].bytes >= truth[k] / 1.01);
    CHECK(levels.boundaries[k].bytes <= truth[k] * 1.3);
  }
  CHECK(bench::level_names(levels) == std::vector<std::string>{"L1", "L2", "L3", "DRAM"});
}

TEST_CASE("level detection survives 5% noise") {
  const auto curve =
      staircase({{48 << 10, 1.5}, {2 << 20, 5.5}, {64 << 20, 30.0}, {1e30, 110.0}}, double(1 << 30), 0.05);
  const bench::Levels levels = bench::find_levels(curve);
  REQUIRE(levels.plateaus.size() == 4);
  CHECK(levels.boundaries[0].bytes == doctest::Approx(48 << 10).epsilon(0.3));
  CHECK(levels.boundaries[1].bytes == doctest::Approx(2 << 20).epsilon(0.3));
}

TEST_CASE("level detection: close levels merge, DRAM and the TLB step are named") {
  // L2 only 1.2x slower than L1: one level. Then DRAM, then a further step (TLB reach).
  const auto merged = staircase({{32 << 10, 2.0}, {256 << 10, 2.4}, {1e30, 80.0}}, double(16 << 20));
  const bench::Levels m = bench::find_levels(merged);
  CHECK(m.plateaus.size() == 2);
  CHECK(bench::level_names(m) == std::vector<std::string>{"L1", "DRAM"});

  const auto tlb = staircase({{32 << 10, 1.0}, {8 << 20, 12.0}, {256 << 20, 100.0}, {1e30, 160.0}}, double(4ll << 30));
  CHECK(bench::level_names(bench::find_levels(tlb)) ==
        std::vector<std::string>{"L1", "L2", "DRAM", "DRAM, beyond TLB reach"});
}

TEST_CASE("level detection: a TLB step inside the L2 range is not a cache level") {
  // A Granite Rapids guest whose host maps it with 4 KiB pages: L2 at 4.45 ns, 1.6x slower from
  // 1 MiB (second-level TLB), then the real L2 edge at 2 MiB, L3's share, DRAM.
  const auto curve = staircase({{48 << 10, 1.3}, {724 << 10, 4.45}, {1536 << 10, 7.0}, {16 << 20, 36.0}, {1e30, 150.0}},
                               double(64 << 20));
  const bench::Levels levels = bench::find_levels(curve);
  CHECK(bench::level_names(levels) == std::vector<std::string>{"L1", "L2", "L3", "DRAM"});
  REQUIRE(levels.boundaries.size() == 3);
  CHECK(levels.boundaries[1].bytes >= 1 << 20);  // the L2 edge, not the TLB's
  CHECK(levels.boundaries[1].bytes <= 2 << 20);
}

TEST_CASE("level detection: one disturbed point does not end a plateau") {
  auto curve = staircase({{32 << 10, 1.3}, {512 << 10, 4.0}, {32 << 20, 16.0}, {1e30, 150.0}}, double(1 << 30));
  for (auto& p : curve)
    if (p.bytes > 200e3 && p.bytes < 300e3) p.latency *= 2.2;  // one spike inside L2
  const bench::Levels levels = bench::find_levels(curve);
  REQUIRE(levels.boundaries.size() >= 2);
  CHECK(levels.boundaries[1].bytes >= 512 << 10);
  CHECK(levels.boundaries[1].bytes <= 1.3 * (512 << 10));
}

TEST_CASE("level detection: a flat curve has one level and no boundary") {
  const bench::Levels flat = bench::find_levels(staircase({{1e30, 3.0}}, double(1 << 20)));
  CHECK(flat.plateaus.size() == 1);
  CHECK(flat.boundaries.empty());
  CHECK(bench::find_levels({}).plateaus.empty());
}

TEST_CASE("pointer chase: one cycle through every line") {
  for (std::int64_t lines : {2, 3, 64, 1000}) {
    bench::HugeBuffer buffer(lines * probes::kLineBytes);
    void* start = probes::link_random_cycle(buffer.data(), lines, 42);
    std::set<void*> seen;
    void* p = start;
    for (std::int64_t i = 0; i < lines; ++i) {
      CHECK(seen.insert(p).second);  // never twice before the cycle closes
      const auto offset = static_cast<char*>(p) - buffer.data();
      CHECK(offset % probes::kLineBytes == 0);
      CHECK(offset / probes::kLineBytes < lines);
      p = probes::chase(p, 1);
    }
    CHECK(p == start);  // back where it began after exactly `lines` loads
    CHECK(probes::chase(start, lines * 3) == start);
  }
}

TEST_CASE("the clock chains do the work they count") {
  CHECK(probes::dependent_adds(1) == probes::kAddsPerIteration);
  CHECK(probes::dependent_adds(1000) == 1000u * probes::kAddsPerIteration);
  CHECK(probes::dependent_multiplies(10) == 3);  // 3 x 1 x 1 ...
  const bench::ClockMeasurement c = bench::measure_clock(1, bench::quick_timing());
  CHECK(c.ghz_multiply > 0.3);
  CHECK(c.ghz_multiply < 7);
  CHECK(c.ghz_one_core < 7);  // the figure used is never the renamer's shortcut
}

TEST_CASE("STREAM kernels: results and byte/FLOP accounting") {
  const std::int64_t n = 1000;  // multiple of 8, as the non-temporal kernels need
  bench::StreamArrays arrays(n, 2);
  double* a = arrays.pa();
  const double* b = arrays.pb();
  const double* c = arrays.pc();
  CHECK(reinterpret_cast<std::uintptr_t>(arrays.pb()) % 64 == 0);
  CHECK(reinterpret_cast<std::uintptr_t>(arrays.pa()) % 4096 != reinterpret_cast<std::uintptr_t>(arrays.pb()) % 4096);
  struct Expect {
    const char* name;
    double bytes;
    int flops;
    double a0;  // a[0] after the kernel, with b = 1 and c = 2
  };
  for (const Expect& e : {Expect{"read", 8, 1, 0}, Expect{"write", 8, 0, 3}, Expect{"copy", 16, 0, 1},
                          Expect{"scale", 16, 1, 3}, Expect{"add", 24, 1, 3}, Expect{"triad", 24, 2, 7},
                          Expect{"write-nt", 8, 0, 3}, Expect{"copy-nt", 16, 0, 1}, Expect{"triad-nt", 24, 2, 7}}) {
    const probes::StreamKernel* k = probes::find_stream_kernel(e.name);
    REQUIRE(k != nullptr);
    CHECK(k->bytes_per_element() == e.bytes);
    CHECK(k->flops_per_element == e.flops);
    for (std::int64_t i = 0; i < n; ++i) a[i] = -1;
    const double result = k->run(a, b, c, n);
    if (std::string(e.name) == "read") {
      CHECK(result == doctest::Approx(1.0 * n));
    } else {
      for (std::int64_t i : {std::int64_t(0), n / 2, n - 1}) CHECK_MESSAGE(a[i] == e.a0, e.name);
    }
  }
  CHECK(probes::find_stream_kernel("nonesuch") == nullptr);
  // Through the runner, with threads: 1000 elements of triad is 24000 STREAM bytes per call.
  const bench::StreamResult r =
      bench::measure_stream(*probes::find_stream_kernel("triad"), arrays, n, 2, bench::quick_timing());
  CHECK(r.gbytes_per_s == doctest::Approx(24.0 * n / r.timing.median * 1e-9));
}

TEST_CASE("strided sum and the locality kernels") {
  std::vector<double> v(1000);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = double(i);
  CHECK(probes::strided_sum(v.data(), 1000, 1) == 999.0 * 1000 / 2);
  CHECK(probes::strided_sum(v.data(), 1000, 7) == [&] {
    double s = 0;
    for (int i = 0; i < 1000; i += 7) s += i;
    return s;
  }());
  std::vector<double> m(37 * 53);
  for (std::size_t i = 0; i < m.size(); ++i) m[i] = double(i % 11);
  CHECK(probes::sum_row_major(m.data(), 37, 53) == probes::sum_column_major(m.data(), 37, 53));
  for (std::int64_t n : {1, 5, 33, 100}) {
    std::vector<float> in(static_cast<std::size_t>(n * n)), naive(in.size()), blocked(in.size());
    for (std::size_t i = 0; i < in.size(); ++i) in[i] = float(i);
    probes::transpose_naive(in.data(), naive.data(), n);
    probes::transpose_blocked(in.data(), blocked.data(), n, 8);
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t j = 0; j < n; ++j) {
        CHECK(naive[j * n + i] == in[i * n + j]);
        CHECK(blocked[j * n + i] == in[i * n + j]);
      }
  }
}

TEST_CASE("theoretical peak: the formula and its parts") {
  const probes::FmaLoop& avx2 = *probes::find_fma_loop("avx2-fp32");
  REQUIRE(avx2.fused);
  const bench::TheoreticalPeak p = bench::theoretical_peak(avx2, 2, 3.0, 2);
  CHECK(p.gflops == doctest::Approx(2 * 3.0 * 8 * 2 * 2));
  CHECK(p.formula == "2 cores x 3.00 GHz x 8 lanes x 2 FMA pipes x 2 = 192.0 GFLOP/s");
  CHECK(bench::theoretical_peak(probes::fma_loops()[0], 1, 2.5, 1).formula ==
        "1 core x 2.50 GHz x 1 lane x 1 FMA pipe x 2 = 5.0 GFLOP/s");
  // Without FMA: a multiply pipe and an add pipe, 2 FLOP per lane each cycle between them.
  const probes::FmaLoop& avx = *probes::find_fma_loop("avx-fp32");
  REQUIRE(!avx.fused);
  CHECK(bench::theoretical_peak(avx, 4, 3.4, 1).formula ==
        "4 cores x 3.40 GHz x 8 lanes x 1 multiply+add pipe pair x 2 = 217.6 GFLOP/s");
  bench::FmaPipes zen3{2, 0, "Zen 3", true}, unknown{0, 0, "unknown", false};
  CHECK(bench::pipes_for(zen3, avx2) == 2);
  CHECK(bench::pipes_for(zen3, avx) == 1);
  CHECK(bench::assumed_pipes(unknown, avx2) == 2);
  CHECK(bench::assumed_pipes(unknown, avx) == 1);
  CHECK(bench::infer_pipes(96.0, 3.0, avx2) == 2);  // 32 FLOP/cycle / (8 lanes x 2)
  CHECK(bench::infer_pipes(40.0, 3.0, avx2) == 1);
}

TEST_CASE("FMA pipes: the table knows the reference machines") {
  bench::MachineInfo m;
  m.cpu_vendor = "AuthenticAMD";
  m.cpu_family = 0x19;
  m.cpu_model = 0x01;
  auto p = bench::fma_pipes(m);
  CHECK(p.microarchitecture == "Zen 3");
  CHECK(p.narrow == 2);
  CHECK(p.wide == 0);
  m.cpu_model = 0x11;
  CHECK(bench::fma_pipes(m).wide == 1);  // Zen 4 halves 512-bit FMAs
  m.cpu_vendor = "GenuineIntel";
  m.cpu_family = 6;
  m.cpu_model = 0xcf;
  p = bench::fma_pipes(m);
  CHECK(p.microarchitecture == "Emerald Rapids");
  CHECK(p.wide == 2);
  m.cpu_model = 0x01;
  CHECK_FALSE(bench::fma_pipes(m).from_table);
  // A Granite Rapids guest that reads model 0xa7 (Rocket Lake, one 512-bit pipe): AMX decides.
  m.cpu_model = 0xa7;
  CHECK(bench::fma_pipes(m).wide == 1);
  m.simd = {"avx512f", "amx_tile"};
  p = bench::fma_pipes(m);
  CHECK(p.wide == 2);
  CHECK(p.microarchitecture.rfind("Sapphire Rapids or later", 0) == 0);
}

TEST_CASE("machine warnings flag what cannot be right") {
  bench::MachineInfo m;
  m.topology_source = "hwloc 2.9.0";
  m.memory_os_bytes = std::int64_t(24) << 30;
  m.memory_hwloc_bytes = std::int64_t(5) << 30;
  m.caches = {{1, "data", 32 << 10, 64, 2, 1}, {2, "unified", 512 << 10, 64, 2, 1}, {3, "unified", 300 << 20, 64, 1, 16}};
  const auto w = bench::machine_warnings(m);
  REQUIRE(w.size() == 2);
  CHECK(w[0].find("hwloc's topology holds 5 GiB of memory but the OS reports 24 GiB") == 0);
  CHECK(w[1].find("an L3 of 300 MiB shared by 16 CPUs is 18.75 MiB per CPU") == 0);

  m.memory_hwloc_bytes = m.memory_os_bytes;
  m.caches = {{1, "data", 32 << 10, 64, 2, 1}, {2, "unified", 16 << 10, 64, 2, 1}};
  const auto w2 = bench::machine_warnings(m);
  REQUIRE(w2.size() == 1);
  CHECK(w2[0] == "L2 (16 KiB) is reported smaller than L1 (32 KiB); one of the two is wrong");
}

TEST_CASE("hardware counters: counted, or unavailable with the reason") {
  bench::Counters& c = bench::Counters::instance();
  volatile double x = 0;
  const auto values = c.count([&] {
    for (int i = 0; i < 100000; ++i) x = x + 1;
  });
  if (c.available()) {
    REQUIRE(values.has_value());
    CHECK(values->instructions > 100000);
    CHECK(values->cycles > 0);
  } else {
    CHECK_FALSE(values.has_value());
    CHECK(x == 0);  // the work is not run when nothing would count it
    CHECK(c.reason().rfind("hardware counters unavailable here (perf_event_open: ", 0) == 0);
  }
}

TEST_CASE("huge buffers are 2 MiB aligned and report their backing") {
  bench::HugeBuffer b(8 << 20);
  CHECK(reinterpret_cast<std::uintptr_t>(b.data()) % (2 << 20) == 0);
  CHECK(b.data()[0] == 0);
  CHECK(b.data()[(8 << 20) - 1] == 0);
  const std::int64_t huge = b.huge_page_bytes();
  CHECK(huge >= -1);
  CHECK(huge <= b.bytes());
  if (std::string(bench::transparent_huge_page_mode()) == "never") CHECK(huge <= 0);
}

TEST_CASE("likwid-bench output is read from its summary line") {
  const std::string output =
      "Test: stream_avx_fma\nUsing 2 threads\n"
      "Group: 0 Thread 0\nMFlops/s:\t\t1000.0\nMByte/s:\t\t12000.5\n"
      "Group: 0 Thread 1\nMFlops/s:\t\t1100.0\nMByte/s:\t\t12500.0\n"
      "MFlops/s:\t\t2100.00\nMByte/s:\t\t24500.50\nCycles per update:\t2.2\n";
  CHECK(bench::likwid_value(output, "MByte/s") == doctest::Approx(24500.5));
  CHECK(bench::likwid_value(output, "MFlops/s") == doctest::Approx(2100.0));
  CHECK(bench::likwid_value(output, "Missing") == 0);
  // Where its threads ran: a 2-thread run on one hardware thread is not a 2-thread peer.
  const std::string placed = "Group: 0 Thread 0 Global Thread 0 running on hwthread 0 - Vector length 8000\n"
                             "Group: 0 Thread 1 Global Thread 1 running on hwthread 0 - Vector length 8000\n";
  CHECK(bench::likwid_hwthreads(placed) == std::vector<int>{0, 0});
  CHECK(bench::likwid_hwthreads(output).empty());
  const bench::LikwidResult bad = bench::run_likwid("no_such_test", "N:32kB:1", 1);
  CHECK_FALSE(bad.ran);
  CHECK_FALSE(bad.reason.empty());
}

TEST_CASE("each probe reports its tables, points and charts (quick mode)") {
  const bench::MachineInfo machine = bench::describe_machine();
  const bench::ClockMeasurement clock = bench::measure_clock(1, bench::quick_timing());
  CHECK(clock.ghz_one_core > 0.1);
  CHECK(clock.ghz_one_core < 10);
  const bench::ProbeContext ctx{.machine = machine, .clock = clock, .quick = true, .peers = false, .cores = 2,
                                .max_bytes = 8 << 20, .timing = bench::quick_timing()};
  for (const bench::Probe& probe : bench::cpu_probes()) {
    INFO(probe.name);
    const bench::ProbeReport r = probe.run(ctx);
    CHECK(r.name() == probe.name);
    CHECK(r.text().find(r.title()) == 0);
    CHECK(r.markdown("/nonexistent").find("### " + r.title()) == 0);
    CHECK_FALSE(r.json.empty());
    if (probe.name == std::string("threads") && bench::cpu_order().size() >= 2) {
      // The L1 test: two sets of 3/4 of the L1, timed alone and together, and its verdict.
      const Json& l1 = r.json.at("l1_sharing");
      CHECK(l1["set_bytes"].get<double>() == doctest::Approx(0.75 * l1["l1_bytes"].get<double>()).epsilon(0.01));
      CHECK(l1["alone_ns"].get<double>() > 0);
      CHECK(l1["together_ns"].get<double>() > 0);
      // Measured before the curve and again after it; "shared" only where both say so.
      const Json& after = l1.at("after");
      CHECK(after["alone_ns"].get<double>() > 0);
      const bool before_shared = l1["together_ns"].get<double>() >= 1.5 * l1["alone_ns"].get<double>();
      const bool after_shared = after["together_ns"].get<double>() >= 1.5 * after["alone_ns"].get<double>();
      CHECK(l1["shared"] == (before_shared && after_shared));
      CHECK(l1["changed"] == (before_shared != after_shared));
      // A changed answer measures the curve once more; the second run's answers are the ones kept.
      const int runs = l1["runs"].get<int>();
      CHECK((before_shared != after_shared ? runs == 2 : runs == 1 || runs == 2));
      CHECK(r.text().find("L1 test: CPUs ") != std::string::npos);
    }
  }
  const bench::ProbeReport latency = bench::find_probe("latency")->run(ctx);
  const Json& points = latency.json["points"];
  REQUIRE(points.size() >= 15);  // 1 KiB .. 8 MiB at 2 per octave
  CHECK(points[0]["bytes"] == 1024.0);
  CHECK(points.back()["bytes"].get<double>() <= 8 << 20);
  for (const auto& p : points) CHECK(p["ns"].get<double>() > 0);
  CHECK(bench::find_probe("nonesuch") == nullptr);
}

TEST_CASE("CPU share: the meter sees this process's own work, and a lost CPU makes a scaling claim untestable") {
  const bench::CpuShareMeter meter;
  // Spin until this thread has used 0.3 s of CPU by the kernel's precise clocks, and compare
  // the meter with the process's CPU clock over the same stretch. Spinning for 0.3 s of wall
  // time instead made the test depend on the load (under a parallel ctest on 2 vCPUs the
  // thread got 49% of a CPU), and OpenBLAS's worker thread, started when the library loads,
  // uses CPU of its own early on, so the process can use more than this thread does.
  auto cpu_seconds = [](clockid_t clock) {
    timespec t{};
    clock_gettime(clock, &t);
    return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
  };
  volatile double sink = 0;
  const double process_start = cpu_seconds(CLOCK_PROCESS_CPUTIME_ID);
  const double thread_start = cpu_seconds(CLOCK_THREAD_CPUTIME_ID);
  while (cpu_seconds(CLOCK_THREAD_CPUTIME_ID) - thread_start < 0.3) sink = sink + 1.0;
  const double process_used = cpu_seconds(CLOCK_PROCESS_CPUTIME_ID) - process_start;
  const bench::CpuShare share = meter.stop();
  REQUIRE(share.known);  // Linux: /proc/stat and /proc/self/stat are always there
  CHECK(share.cpus >= 1);
  CHECK(share.wall_s >= 0.3);  // a thread cannot use CPU faster than the clock runs
  // The meter counts 10 ms ticks: what the process clock saw, give or take a few ticks.
  const double own_seconds = share.own_cpus * share.wall_s;
  CHECK(own_seconds > 0.27);
  CHECK(std::abs(own_seconds - process_used) < 0.05);
  CHECK(share.own_cpus <= share.cpus + 0.1);
  CHECK(share.free_cpus() <= share.cpus);

  bench::CpuShare two{.known = true, .wall_s = 1, .cpus = 2, .steal_cpus = 0.05, .other_cpus = 0.05, .own_cpus = 1.9};
  CHECK(bench::had_cpus_for(two, 2));
  two.steal_cpus = 0.95;  // the hypervisor ran another guest on one vCPU almost throughout
  CHECK_FALSE(bench::had_cpus_for(two, 2));
  CHECK(bench::had_cpus_for(two, 1));
  CHECK(two.describe() == "1.00 of 2 CPUs free (steal 0.95, other processes 0.05), 1.90 used by flopslab");
  two.steal_cpus = 0.05, two.own_cpus = 1.0;  // both threads ran on one CPU: the other was free, unused
  CHECK_FALSE(bench::had_cpus_for(two, 2));
  CHECK(bench::had_cpus_for(two, 1));
  two.steal_cpus = 0.95, two.own_cpus = 1.9;
  const bench::CpuShare back = bench::CpuShare::from_json(two.to_json());
  CHECK(back.known);
  CHECK(back.free_cpus() == doctest::Approx(two.free_cpus()));
  CHECK_FALSE(bench::CpuShare::from_json(Json()).known);
  CHECK(bench::had_cpus_for(bench::CpuShare{}, 64));  // unknown: the check is made as before
}
