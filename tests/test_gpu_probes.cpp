// The GPU probes run end to end and report plausible values; the device description has the
// fields the report shows; the DRAM counters count a copy's bytes.
#include <doctest/doctest.h>

#include <optional>

#include "demo/demo.h"
#include "harness/gpu_counters.h"
#include "harness/gpu_tools.h"
#include "kernels/cuda/probes/gpu_probes.h"
#include "harness/machine/gpu_runtime.h"
#include "bench/probes/probe.h"

using namespace flopslab;

TEST_CASE("the device description has clocks, bus, L2 and the computed peaks") {
  const bench::GpuDevice& d = bench::gpu_status().devices.front();
  CHECK(d.sm_clock_max_mhz > 500);
  CHECK(d.memory_clock_max_mhz > 0);
  CHECK(d.memory_bus_bits >= 64);
  CHECK(d.l2_bytes > (1 << 20));
  CHECK(d.max_threads_per_sm >= 1024);
  const bench::GpuPeaks p = bench::gpu_peaks(d);
  CHECK(p.fp32_gflops > 1000);
  CHECK(p.memory_gbytes_per_s > 100);
  CHECK_FALSE(d.link_source.empty());
}

TEST_CASE("each GPU probe runs and reports (quick)") {
  const bench::ProbeSession session({.quick = true});
  for (const bench::Probe& probe : bench::gpu_probes()) {
    INFO(probe.name);
    const bench::ProbeReport r = probe.run(session.context);
    CHECK(r.name() == probe.name);
    CHECK(r.text().find(r.title()) == 0);
    CHECK_FALSE(r.json.empty());
  }
  const Json flops = bench::find_probe("gpu-flops")->run(session.context).json;
  CHECK(flops["gflops_best"].get<double>() > 100);
  // The tensor cores' mma.sync chains: every thread's sum exact (both products of every pair,
  // every K step), and faster than the FP32 FMAs.
  if (bench::gpu_status().devices.front().cc_major >= 8)
    for (const char* precision : {"bf16", "tf32"}) {
      INFO(precision << ": " << flops["tensor"][precision].dump());
      CHECK(flops["tensor"][precision]["checked"].get<bool>());
      CHECK(flops["tensor"][precision]["gflops_best"].get<double>() > flops["gflops_best"].get<double>());
    }
  const Json launch = bench::find_probe("gpu-launch")->run(session.context).json;
  CHECK(launch["launch_and_wait_us"].get<double>() > 0);
  // The unsynchronised timer is shorter than the synchronised one: it misses the kernel.
  CHECK(launch["timers"]["host_no_sync_us"].get<double>() < launch["timers"]["host_sync_us"].get<double>());
}

TEST_CASE("the bus probe names its link and reads host memory in place (zero-copy)") {
  const bench::ProbeSession session({.quick = true});
  const Json j = bench::find_probe("pcie")->run(session.context).json;
  const bench::GpuDevice& d = bench::gpu_status().devices.front();
  CHECK(j["link"]["kind"] == bench::gpu_link_name(bench::gpu_link(d)));
  // Device read, copy + read, pinned in place, and pageable in place where the GPU can.
  REQUIRE(j["zero_copy"].size() == (d.pageable_memory_access ? 4u : 3u));
  for (const Json& row : j["zero_copy"]) {
    CAPTURE(row["access"].get<std::string>());
    CHECK(row["gbytes_per_s"].get<double>() > 0.1);
  }
  // A discrete GPU reads its own memory faster than host memory across any link.
  if (!d.integrated) CHECK(j["zero_copy"][0]["gbytes_per_s"].get<double>() > j["zero_copy"][2]["gbytes_per_s"].get<double>());
}

TEST_CASE("the demo's bus scene: pageable, pinned and 4 KiB copies race, every byte checked") {
  REQUIRE(bench::scene_problem("bus", 256, 0.5).empty());
  bench::Scene scene = bench::make_scene("bus", 256, 1);
  REQUIRE(scene.contestants.size() == 3);
  const bench::RaceResult r = bench::run_race(scene, {.seconds = 0.5});
  CHECK(r.all_checked());
  CHECK(r.raced() == 3);
  for (const bench::LaneResult& lane : r.lanes) {
    CAPTURE(lane.name);
    CHECK(lane.check.empty());
    CHECK(lane.rate > 0);
  }
  // One large pinned copy beats 256 KiB sent 4 KiB at a time: each copy pays the fixed cost.
  CHECK(r.lanes[1].rate > r.lanes[2].rate);
}

TEST_CASE("the GPU's DRAM counters count what a copy too large for the L2 must move") {
  bench::GpuCounters& counters = bench::GpuCounters::instance();
  if (!counters.available()) {
    // The driver may keep the counters to administrators; then the reason says how to lift it.
    MESSAGE("GPU counters unavailable: " << counters.reason());
    CHECK_FALSE(counters.reason().empty());
    return;
  }
  // 64 Mi floats each way (256 MiB: several times any L2), once: 256 MiB read, 256 MiB written.
  const std::int64_t n = std::int64_t(64) << 20;
  bench::DeviceBuffer in(n * 4), out(n * 4);
  bench::GpuStream stream;
  const auto copy = [&](void* s) { probes::gpu::launch_copy(in.as<float>(), out.as<float>(), n, 4, 0, 256, s); };
  const std::optional<bench::GpuDramBytes> bytes = counters.count(copy, stream.get(), true);
  REQUIRE_MESSAGE(bytes.has_value(), counters.reason());
  const double must = double(n) * 4;
  CHECK(bytes->read > 0.95 * must);
  CHECK(bytes->read < 1.10 * must);
  CHECK(bytes->written > 0.95 * must);
  CHECK(bytes->written < 1.10 * must);
}
