// The GPU probes (lesson 06): FP32 FMA throughput, memory bandwidth (HBM, L2, shared), how
// many threads it takes, what divergent control flow costs, and what launching and
// synchronising cost. Every GPU time is taken with CUDA events after synchronisation, except
// where the host's view is the point (launch latency, the unsynchronised-timer trap).
#include <algorithm>
#include <chrono>
#include <cmath>

#include <fmt/format.h>

#include "harness/files.h"
#include "bench/sweeps/gemm_sweep.h"
#include "harness/machine/gpu_runtime.h"
#include "harness/gpu_tools.h"
#include "bench/probes/probe.h"
#include "kernels/cuda/probes/gpu_probes.h"
#include "harness/format.h"

namespace flopslab::bench {
namespace {

namespace kernels = probes::gpu;

const GpuDevice& device_or_throw() {
  if (!gpu_status().usable) throw std::runtime_error("no usable GPU: " + gpu_status().reason);
  return gpu_status().devices.front();
}

std::string us(double seconds) { return fmt::format("{:.2f}", seconds * 1e6); }


}  // namespace

ProbeReport run_gpu_flops_probe(const ProbeContext& ctx) {
  ProbeReport report("gpu-flops", "GPU FP32 throughput (lesson 06)");
  const GpuDevice& d = device_or_throw();
  const GpuPeaks peaks = gpu_peaks(d);
  GpuStream stream;
  const std::int64_t threads = std::int64_t(d.sm_count) * d.max_threads_per_sm * 4;  // four full waves
  const int iterations = ctx.quick ? 1024 : 4096;
  DeviceBuffer out(threads * 4);
  ctx.step("gpu-flops: FMA chains on every SM");
  const Timing t = measure_gpu([&](void* s) { kernels::launch_fma(out.as<float>(), threads, iterations, s); },
                               stream.get(), ctx.timing);
  const double flops = double(threads) * iterations * kernels::kFmaChains * 2;
  const double median = flops / t.median * 1e-9, best = flops / t.min * 1e-9;
  report.say(fmt::format("{} threads ({} SMs x {} resident threads x 4 waves), each running {} independent FMA chains "
                         "for {} rounds. Theoretical: {}.",
                         threads, d.sm_count, d.max_threads_per_sm, kernels::kFmaChains, iterations, peaks.fp32_formula));
  Table table({{"kernel", Table::Align::left}, {"GFLOP/s (median)"}, {"best"}, {"theoretical"}, {"% of theoretical"}});
  table.add_row({"fma chains", format_rate(median), format_rate(best), format_rate(peaks.fp32_gflops),
                 peaks.fp32_gflops > 0 ? fmt::format("{:.1f}%", 100 * best / peaks.fp32_gflops) : "-"});

  // The tensor cores: warp-wide mma.sync chains in bf16 and TF32 (float32 sums), each thread's
  // sum checked against its exact value.
  Json tensor{{"theoretical_bf16_gflops", peaks.tensor_bf16_gflops}, {"theoretical_tf32_gflops", peaks.tensor_tf32_gflops},
              {"theoretical_formula", peaks.tensor_formula}};
  const int mma_iterations = ctx.quick ? 512 : 2048;
  for (const bool bf16 : {true, false}) {
    const char* name = bf16 ? "bf16" : "tf32";
    const double theoretical = bf16 ? peaks.tensor_bf16_gflops : peaks.tensor_tf32_gflops;
    ctx.step(fmt::format("gpu-flops: {} mma.sync chains on every SM", name));
    if (!kernels::launch_mma(out.as<float>(), threads, 1, bf16, d.cc_major, stream.get())) {
      tensor[name] = {{"not_run", fmt::format("mma.sync with {} needs sm_80 or later; this GPU is sm_{}{}", name,
                                              d.cc_major, d.cc_minor)}};
      continue;
    }
    const Timing m = measure_gpu(
        [&](void* s) { kernels::launch_mma(out.as<float>(), threads, mma_iterations, bf16, d.cc_major, s); },
        stream.get(), ctx.timing);
    stream.synchronize();
    float first = 0;
    out.download(&first, sizeof first);
    const double want = kernels::mma_thread_sum(mma_iterations, bf16);
    const double mma_flops = kernels::mma_flops(threads, mma_iterations, bf16);
    const double mma_median = mma_flops / m.median * 1e-9, mma_best = mma_flops / m.min * 1e-9;
    table.add_row({fmt::format("mma.sync {} chains", name), format_rate(mma_median), format_rate(mma_best),
                   theoretical > 0 ? format_rate(theoretical) : "-",
                   theoretical > 0 ? fmt::format("{:.1f}%", 100 * mma_best / theoretical) : "-"});
    tensor[name] = {{"gflops_median", mma_median}, {"gflops_best", mma_best}, {"iterations", mma_iterations},
                    {"thread_sum", first}, {"expected_thread_sum", want}, {"checked", double(first) == want}};
  }
  report.table(std::move(table));
  report.say("The theoretical figure uses the maximum SM clock; under a long FMA load the GPU may run below it "
             "(power and thermal limits), which shows here as less than 100%.");
  report.say(fmt::format("Tensor cores: {}. The mma.sync chains are warp-wide matrix products (16x8x16 in bf16, "
                         "16x8x8 in TF32) with float32 sums; on Hopper the full rate needs wgmma (warp-group "
                         "products from shared memory), which cuBLAS uses and these chains do not, so they show "
                         "less than the theoretical figure there.",
                         peaks.tensor_formula));
  report.json = Json{{"threads", threads}, {"iterations", iterations}, {"gflops_median", median}, {"gflops_best", best},
                     {"theoretical_gflops", peaks.fp32_gflops}, {"theoretical_formula", peaks.fp32_formula},
                     {"tensor", tensor}};
  return report;
}

ProbeReport run_gpu_bandwidth_probe(const ProbeContext& ctx) {
  ProbeReport report("gpu-bandwidth", "GPU memory bandwidth (lesson 06)");
  const GpuDevice& d = device_or_throw();
  const GpuPeaks peaks = gpu_peaks(d);
  GpuStream stream;
  // Arrays well beyond the L2, so HBM is what is measured.
  const std::int64_t n = std::max<std::int64_t>(ctx.quick ? 32 << 20 : 256 << 20, d.l2_bytes);  // floats per array
  DeviceBuffer a(n * 4), b(n * 4), c(n * 4);
  kernels::launch_copy(b.as<float>(), a.as<float>(), n, 1, 0, 256, stream.get());  // touch every page once
  kernels::launch_copy(b.as<float>(), c.as<float>(), n, 1, 0, 256, stream.get());
  stream.synchronize();

  using A = Table::Align;
  Table table({{"test", A::left}, {"working set"}, {"GB/s"}, {"% of HBM theoretical"}});
  Json points = Json::array();
  auto add = [&](const std::string& test, double bytes_moved, double set, const Timing& t, bool hbm) {
    const double gbps = bytes_moved / t.median * 1e-9;
    table.add_row({test, format_bytes(set), format_rate(gbps),
                   hbm && peaks.memory_gbytes_per_s > 0 ? fmt::format("{:.1f}%", 100 * gbps / peaks.memory_gbytes_per_s) : "-"});
    points.push_back({{"test", test}, {"bytes_moved", bytes_moved}, {"working_set", set}, {"gbytes_per_s", gbps},
                      {"spread", t.spread()}});
    return gbps;
  };
  for (int width : {1, 2, 4}) {
    ctx.step(fmt::format("gpu-bandwidth: copy and triad, {}-float accesses", width));
    add(fmt::format("copy, {} float{} per access", width, width == 1 ? "" : "s"), 8.0 * n, 8.0 * n,
        measure_gpu([&](void* s) { kernels::launch_copy(a.as<float>(), b.as<float>(), n, width, 0, 256, s); }, stream.get(), ctx.timing),
        true);
    add(fmt::format("triad, {} float{} per access", width, width == 1 ? "" : "s"), 12.0 * n, 12.0 * n,
        measure_gpu([&](void* s) { kernels::launch_triad(a.as<float>(), b.as<float>(), c.as<float>(), 3.0f, n, width, 0, 256, s); },
                    stream.get(), ctx.timing),
        true);
  }
  ctx.step("gpu-bandwidth: cudaMemcpy device to device");
  const double d2d = add("cudaMemcpyAsync D2D (the driver's copy)", 8.0 * n, 8.0 * n,
                         measure_gpu([&](void* s) { copy_async(b.data(), a.data(), n * 4, CopyKind::device_to_device, s); },
                                     stream.get(), ctx.timing),
                         true);

  // Occupancy: the triad on a grid-stride loop with 1 to 32 blocks of 256 threads per SM.
  Table grid({{"blocks per SM"}, {"resident threads"}, {"triad GB/s"}, {"% of HBM theoretical"}});
  Json grid_json = Json::array();
  for (int per_sm : {1, 2, 4, 8, 16, 32}) {
    const int blocks = per_sm * d.sm_count;
    ctx.step(fmt::format("gpu-bandwidth: triad with {} blocks per SM", per_sm));
    const Timing t = measure_gpu(
        [&](void* s) { kernels::launch_triad(a.as<float>(), b.as<float>(), c.as<float>(), 3.0f, n, 4, blocks, 256, s); },
        stream.get(), ctx.timing);
    const double gbps = 12.0 * n / t.median * 1e-9;
    grid.add_row({std::to_string(per_sm), std::to_string(std::min(blocks * 256, d.sm_count * d.max_threads_per_sm)),
                  format_rate(gbps), peaks.memory_gbytes_per_s > 0 ? fmt::format("{:.1f}%", 100 * gbps / peaks.memory_gbytes_per_s) : "-"});
    grid_json.push_back({{"blocks_per_sm", per_sm}, {"blocks", blocks}, {"gbytes_per_s", gbps}});
  }

  // L2: read a set half the L2's size many times; shared memory: each block re-reads 16 KiB.
  const std::int64_t l2_floats = std::max<std::int64_t>(d.l2_bytes / 2 / 4 / 1024 * 1024, 1024);
  const int passes = 20, blocks = d.sm_count * 8;
  DeviceBuffer sink(std::int64_t(blocks) * 256 * 4);
  ctx.step("gpu-bandwidth: L2 and shared memory");
  add("read from L2 (half its size, 20 passes)", double(l2_floats) * 4 * passes, double(l2_floats) * 4,
      measure_gpu([&](void* s) { kernels::launch_read(a.as<float>(), sink.as<float>(), l2_floats, passes, blocks, s); },
                  stream.get(), ctx.timing),
      false);
  const int iterations = ctx.quick ? 1024 : 8192;
  add("read from shared memory (16 KiB per block)", double(blocks) * 256 * iterations * 16, 16 << 10,
      measure_gpu([&](void* s) { kernels::launch_shared_read(sink.as<float>(), iterations, blocks, s); }, stream.get(),
                  ctx.timing),
      false);

  report.say(fmt::format("Bytes moved count every byte read plus every byte written (copy: 8 per float, triad: 12). "
                         "Arrays of {} each, {} the L2's {}. Theoretical HBM bandwidth: {}.",
                         format_bytes(4.0 * n), n * 4 >= 4 * d.l2_bytes ? "well beyond" : "beyond",
                         format_bytes(double(d.l2_bytes)), peaks.memory_formula.empty() ? "unknown" : peaks.memory_formula));
  report.table(std::move(table));
  report.say("Occupancy: the same float4 triad with a fixed grid of blocks per SM walking the arrays. Too few "
             "resident threads leave too few loads in flight to cover the memory latency.");
  report.table(std::move(grid));
  report.json = Json{{"floats_per_array", n}, {"theoretical_gbytes_per_s", peaks.memory_gbytes_per_s},
                     {"theoretical_formula", peaks.memory_formula}, {"d2d_gbytes_per_s", d2d}, {"points", points},
                     {"occupancy", grid_json}};
  return report;
}

ProbeReport run_gpu_threads_probe(const ProbeContext& ctx) {
  ProbeReport report("gpu-threads", "How many threads a GPU needs (lesson 06)");
  const GpuDevice& d = device_or_throw();
  GpuStream stream;
  const std::int64_t full = std::int64_t(d.sm_count) * d.max_threads_per_sm;
  std::vector<std::int64_t> counts{1, 32, 256, 1024};
  for (std::int64_t t = 4096; t < full; t *= 4) counts.push_back(t);
  counts.push_back(full);
  counts.push_back(4 * full);
  const int iterations = ctx.quick ? 512 : 2048;
  const std::int64_t n = ctx.quick ? 32 << 20 : 128 << 20;  // floats copied, beyond the L2
  DeviceBuffer out(4 * full * 4), a(n * 4), b(n * 4);
  using A = Table::Align;
  Table table({{"threads"}, {"as", A::left}, {"FMA GFLOP/s"}, {"copy GB/s"}});
  Json points = Json::array();
  for (std::int64_t t : counts) {
    ctx.step(fmt::format("gpu-threads: {} threads", t));
    const Timing f = measure_gpu([&](void* s) { kernels::launch_fma(out.as<float>(), t, iterations, s); }, stream.get(), ctx.timing);
    const int blocks = int(std::max<std::int64_t>(1, t / 256)), per_block = int(std::min<std::int64_t>(t, 256));
    const Timing c = measure_gpu([&](void* s) { kernels::launch_copy(a.as<float>(), b.as<float>(), n, 4, blocks, per_block, s); },
                                 stream.get(), ctx.timing);
    const double gflops = double(t) * iterations * kernels::kFmaChains * 2 / f.median * 1e-9;
    const double gbps = 8.0 * n / c.median * 1e-9;
    const std::string as = t < 32 ? "part of one warp" : t <= 1024 ? fmt::format("{} warp{} in one block", t / 32, t > 32 ? "s" : "")
                                                                  : fmt::format("{:.1f} per SM", double(t) / d.sm_count);
    table.add_row({std::to_string(t), as, format_rate(gflops), format_rate(gbps)});
    points.push_back({{"threads", t}, {"fma_gflops", gflops}, {"copy_gbytes_per_s", gbps}});
  }
  report.say(fmt::format("The same two kernels launched with more and more threads: FMA chains (compute) and a "
                         "grid-stride float4 copy (memory). This GPU holds {} threads at once ({} SMs x {}).",
                         full, d.sm_count, d.max_threads_per_sm));
  report.table(std::move(table));
  report.chart("gpu_threads.png", "GPU throughput against the number of threads");
  report.json = Json{{"resident_threads", full}, {"sm_count", d.sm_count}, {"points", points}};
  return report;
}

ProbeReport run_gpu_divergence_probe(const ProbeContext& ctx) {
  ProbeReport report("gpu-divergence", "Control flow on a GPU (lesson 06)");
  const GpuDevice& d = device_or_throw();
  GpuStream stream;
  const int blocks = d.sm_count * 8, iterations = ctx.quick ? 256 : 2048;
  DeviceBuffer out(std::int64_t(blocks) * 256 * 4);
  struct Mode {
    int mode;
    const char* name;
  };
  using A = Table::Align;
  Table table({{"branch on", A::left}, {"paths per warp"}, {"time (ms)"}, {"slowdown"}});
  Json points = Json::array();
  double uniform = 0;
  for (const Mode m : {Mode{0, "nothing (all threads take one path)"}, Mode{1, "warp index (whole warps per path)"},
                       Mode{2, "lane parity (two paths in every warp)"}, Mode{3, "lane index (32 paths in every warp)"}}) {
    ctx.step(fmt::format("gpu-divergence: {}", m.name));
    const Timing t = measure_gpu([&](void* s) { kernels::launch_divergent(out.as<float>(), m.mode, iterations, blocks, s); },
                                 stream.get(), ctx.timing);
    if (m.mode == 0) uniform = t.median;
    const int paths = m.mode == 2 ? 2 : m.mode == 3 ? 32 : 1;
    table.add_row({m.name, std::to_string(paths), fmt::format("{:.3f}", t.median * 1e3), fmt::format("{:.1f}x", t.median / uniform)});
    points.push_back({{"mode", m.name}, {"paths_per_warp", paths}, {"median_s", t.median}, {"slowdown", t.median / uniform}});
  }
  report.say("Every thread does the same amount of work on one of several code paths. A warp issues one instruction "
             "for all 32 lanes; when its lanes disagree on a branch it runs each taken path in turn with the other "
             "lanes masked off, so a warp with k paths takes about k times as long.");
  report.table(std::move(table));
  report.json = Json{{"blocks", blocks}, {"iterations", iterations}, {"points", points}};
  return report;
}

ProbeReport run_gpu_launch_probe(const ProbeContext& ctx) {
  ProbeReport report("gpu-launch", "Launching and synchronising (lesson 06)");
  device_or_throw();
  GpuStream stream;
  void* s = stream.get();
  TimingOptions t = ctx.timing;
  constexpr int kBatch = 1000;

  ctx.step("gpu-launch: empty kernels");
  const Timing one = measure([&] { kernels::launch_empty(s), stream.synchronize(); }, t);
  const Timing many = measure([&] {
    for (int i = 0; i < kBatch; ++i) kernels::launch_empty(s);
    stream.synchronize();
  }, t);
  GpuGraph graph([&](void* capture) { for (int i = 0; i < kBatch; ++i) kernels::launch_empty(capture); }, s);
  const Timing replay = measure([&] { graph.launch(s), stream.synchronize(); }, t);

  ctx.step("gpu-launch: synchronisation on an idle GPU");
  GpuEvent event;
  const Timing device_sync = measure([] { gpu_synchronize(); }, t);
  const Timing stream_sync = measure([&] { stream.synchronize(); }, t);
  const Timing event_sync = measure([&] { event.record(s), event.synchronize(); }, t);

  // The classic trap: a host timer around an asynchronous launch measures the launch only.
  ctx.step("gpu-launch: timing a kernel three ways");
  const std::int64_t n = ctx.quick ? 16 << 20 : 64 << 20;
  DeviceBuffer a(n * 4), b(n * 4), c(n * 4);
  auto triad = [&] { kernels::launch_triad(a.as<float>(), b.as<float>(), c.as<float>(), 3.0f, n, 4, 0, 256, s); };
  triad();
  stream.synchronize();
  const Timing wrong = measure([&] { triad(); }, TimingOptions{.warmup_calls = 0, .warmup_s = 0, .min_time_s = 0,
                                                                   .max_time_s = 0, .min_samples = 1, .max_samples = 1});
  stream.synchronize();
  const Timing host_sync = measure([&] { triad(), stream.synchronize(); }, t);
  const Timing events = measure_gpu([&](void*) { triad(); }, s, t);

  using A = Table::Align;
  Table table({{"what", A::left}, {"µs"}, {"how", A::left}});
  table.add_row({"launch + wait, one empty kernel", us(one.median), "host clock around launch and stream sync"});
  table.add_row({"launch, back to back (per kernel)", us(many.median / kBatch), fmt::format("{} launches, one sync", kBatch)});
  table.add_row({"graph replay (per kernel)", us(replay.median / kBatch), fmt::format("{} kernels captured in a CUDA graph", kBatch)});
  table.add_row({"cudaDeviceSynchronize, idle GPU", us(device_sync.median), "host clock"});
  table.add_row({"cudaStreamSynchronize, idle stream", us(stream_sync.median), "host clock"});
  table.add_row({"event record + cudaEventSynchronize", us(event_sync.median), "host clock"});
  Table timers({{"timer", A::left}, {"µs"}, {"verdict", A::left}});
  timers.add_row({"host clock, no synchronisation", us(wrong.median), "wrong: measures the launch, not the kernel"});
  timers.add_row({"host clock, with stream sync", us(host_sync.median), "right, plus launch and sync overhead"});
  timers.add_row({"CUDA events", us(events.median), "right: the GPU's own clock"});
  report.say("Launch costs from the host's side. The d2l book quotes about 10 µs to launch a kernel; a CUDA graph "
             "submits many kernels at once and pays the launch cost once.");
  report.table(std::move(table));
  report.say(fmt::format("Timing a {} triad: kernel launches return before the kernel runs, so a host timer without "
                         "synchronisation reports only the launch.",
                         format_bytes(12.0 * n)));
  report.table(std::move(timers));
  report.json = Json{{"launch_and_wait_us", one.median * 1e6},
                     {"launch_throughput_us", many.median / kBatch * 1e6},
                     {"graph_replay_us", replay.median / kBatch * 1e6},
                     {"device_sync_us", device_sync.median * 1e6},
                     {"stream_sync_us", stream_sync.median * 1e6},
                     {"event_sync_us", event_sync.median * 1e6},
                     {"timers", {{"host_no_sync_us", wrong.median * 1e6}, {"host_sync_us", host_sync.median * 1e6},
                                 {"events_us", events.median * 1e6}}},
                     {"textbook_launch_us", 10}};
  return report;
}

}  // namespace flopslab::bench
