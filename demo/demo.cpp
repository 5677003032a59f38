// The race's contestants, their checked work and the loop that runs them while the display updates.
#include "demo/demo.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <thread>

#include <fmt/format.h>

#include "harness/machine/cpu_peak.h"
#include "demo/demo_bus.h"
#include "harness/check/gemm_check.h"
#include "harness/machine/gpu_runtime.h"
#include "harness/gpu_tools.h"
#include "harness/machine/machine.h"
#include "bench/training/layer_profile.h"
#include "kernels/registry.h"
#include "nn/device.h"

namespace flopslab::bench {
namespace {

using Clock = std::chrono::steady_clock;
double seconds_between(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

// A CPU GEMM contestant: its own copy of the same matrices (same seed), checked against the
// float64 reference after the race.
Contestant cpu_gemm(const std::string& name, const char* variant, std::int64_t n, int threads) {
  auto problem = std::make_shared<GemmProblem>(gemm::Shape{n, n, n}, 1);
  const GemmVariant* v = find_gemm_variant(variant);
  Contestant c{.name = name, .work_per_call = gemm::flop_count({n, n, n}), .flops_per_call = gemm::flop_count({n, n, n}),
               .bytes_per_call = gemm::compulsory_bytes({n, n, n}), .threads = threads};
  if (v == nullptr || !v->available()) {
    c.absent = v == nullptr ? "not in this build" : v->unavailable();
    return c;
  }
  if (v->input_roundoff > 0) c.precision = "bf16";
  c.call = [problem, v, threads] { v->run(problem->operands(), RunContext{.threads = threads}); };
  c.check = [problem, v] {
    // A bf16 rung is held to the bound widened for its rounded inputs.
    const GemmCheck r = check_gemm(problem->operands(), std::int64_t(1) << 27, 7, v->input_roundoff);
    return r.passed() ? std::string() : r.summary();
  };
  return c;
}

// The GPU's GEMM: the matrices copied over once, C brought back for the check.
Contestant gpu_gemm(std::int64_t n) {
  Contestant c{.name = "GPU, CUDA ladder's top rung", .work_per_call = gemm::flop_count({n, n, n}),
               .flops_per_call = gemm::flop_count({n, n, n}), .bytes_per_call = gemm::compulsory_bytes({n, n, n}),
               .device = "cuda"};
  if (const char* why = nn::cuda_unusable()) {
    c.absent = why;
    return c;
  }
  auto problem = std::make_shared<GemmProblem>(gemm::Shape{n, n, n}, 1);
  struct OnGpu {
    nn::Tensor a, b, c;
  };
  auto d = std::make_shared<OnGpu>();
  const std::int64_t lda = problem->lda, ldb = problem->ldb, ldc = problem->ldc;
  auto host = [](const auto& v, std::int64_t rows, std::int64_t ld) {
    nn::Tensor t({rows, ld});
    std::copy(v.begin(), v.end(), t.data());
    return t;
  };
  d->a = host(problem->a, n, lda).to(nn::DeviceTag::cuda);
  d->b = host(problem->b, n, ldb).to(nn::DeviceTag::cuda);
  d->c = nn::Tensor::zeros_on(nn::DeviceTag::cuda, {n, ldc});
  const GemmVariant* v = find_gemm_variant("cuda-shape-tiled");
  c.call = [d, v, n, lda, ldb, ldc] {
    v->run({{n, n, n}, d->a.data(), lda, d->b.data(), ldb, d->c.data(), ldc}, RunContext{.stream = nn::cuda_stream()});
    nn::cuda_synchronize();
  };
  c.check = [d, problem] {
    const nn::Tensor back = d->c.to(nn::DeviceTag::cpu);
    std::copy(back.data(), back.data() + back.size(), problem->c.begin());
    const GemmCheck r = check_gemm(problem->operands());
    return r.passed() ? std::string() : r.summary();
  };
  return c;
}

// A training contestant: the CNN on one fixed batch of 64; the check is that its loss on that
// batch fell (a broken backward or update would not lower it).
Contestant trainer(const std::string& name, nn::DeviceTag device, int threads) {
  Contestant c{.name = name, .work_per_call = 64, .device = device == nn::DeviceTag::cuda ? "cuda" : "cpu",
               .threads = threads};
  if (device == nn::DeviceTag::cuda)
    if (const char* why = nn::cuda_unusable()) {
      c.absent = why;
      return c;
    }
  // Counted once on the CPU (a profiled GPU step would synchronise after every layer).
  const StepCost cost = training_step_cost("cnn", 64);
  c.flops_per_call = cost.flops, c.bytes_per_call = cost.bytes, c.working_set = cost.largest_layer_bytes;
  if (device == nn::DeviceTag::cuda) c.link_bytes_per_call = kSampleBytes * 64;  // each step uploads its batch
  auto stepper = std::make_shared<TrainingStepper>(
      StepTimingOptions{.model = "cnn", .device = device, .batch = 64, .threads = threads});
  c.call = [stepper] { stepper->step(); };
  c.check = [stepper] {
    if (stepper->steps() < 2) return std::string("fewer than 2 steps: nothing to compare");
    if (!std::isfinite(stepper->last_loss())) return std::string("the loss became non-finite");
    return stepper->last_loss() < stepper->first_loss()
               ? std::string()
               : fmt::format("the loss on its batch did not fall ({:.4f} -> {:.4f})", stepper->first_loss(),
                             stepper->last_loss());
  };
  return c;
}

// Lesson 06's textbook ratio for a GPU contestant over a CPU one: the GPU's FP32 peak (from
// its clocks) over the CPU's, measured here on `threads` cores. Nothing when the GPU is absent.
void peak_ratio_textbook(Scene& s, int gpu, int cpu, int threads) {
  const GpuStatus& status = gpu_status();
  if (!s.contestants[std::size_t(gpu)].absent.empty() || status.devices.empty()) return;
  const double gpu_peak = gpu_peaks(status.devices[0]).fp32_gflops;
  const double cpu_peak =
      measure_fma_peak(probes::widest_fma_loop(probes::Precision::fp32), threads, quick_timing()).gflops();
  if (gpu_peak <= 0 || cpu_peak <= 0) return;
  s.textbook_speedup = gpu_peak / cpu_peak;
  s.textbook_fast = gpu, s.textbook_slow = cpu;
  s.textbook_source =
      fmt::format("the GPU's FP32 peak, {:.0f} GFLOP/s, over the CPU's, measured at {:.0f} (lesson 06)", gpu_peak, cpu_peak);
}

}  // namespace

bool RaceResult::all_checked() const {
  for (const LaneResult& l : lanes)
    if (l.absent.empty() && !l.check.empty()) return false;
  return true;
}

int RaceResult::raced() const {
  int n = 0;
  for (const LaneResult& l : lanes) n += l.absent.empty() && l.calls > 0;
  return n;
}

static const std::vector<std::string>& scene_names() {
  static const std::vector<std::string> names = {"cores", "gemm", "train", "bus", "idle"};
  return names;
}

std::string scene_problem(const std::string& scene, std::int64_t size, double seconds) {
  const auto& names = scene_names();
  if (std::find(names.begin(), names.end(), scene) == names.end())
    return "--scene: '" + scene + "' is not a scene (valid: cores, gemm, train, bus, idle)";
  if (!(seconds >= 0.5 && seconds <= 600)) return fmt::format("--seconds: {} is outside 0.5 to 600", seconds);
  if (size < 16 || size > 65536) return fmt::format("--size: {} is outside 16 to 65536", size);
  if (scene == "bus") {  // every contestant is a copy to the GPU
    if (const char* why = nn::cuda_unusable()) return std::string("--scene bus races copies to a GPU: ") + why;
    const double bytes = 3.0 * 2.0 * 4.0 * double(size) * double(size);  // each lane: host and device copies
    const GpuMemory gpu = gpu_memory();
    if (bytes > 0.5 * double(gpu.free_bytes))
      return fmt::format("--size: {} needs about {:.1f} GiB of GPU memory for the copies, more than half of the {:.1f} GiB free",
                         size, bytes / 2 / double(1 << 30), double(gpu.free_bytes) / double(1 << 30));
  }
  // Each GEMM contestant holds its own A, B and C (and the check a float64 copy of a sample).
  const double bytes = 5.0 * 3.0 * 4.0 * double(size) * double(size);
  const std::int64_t memory = describe_machine().memory_os_bytes;
  if (scene != "train" && memory > 0 && bytes > 0.25 * double(memory))
    return fmt::format("--size: {} needs about {:.1f} GiB for the contestants' matrices, more than a quarter of the "
                       "{:.1f} GiB here",
                       size, bytes / double(1 << 30), double(memory) / double(1 << 30));
  return {};
}

Scene make_scene(const std::string& name, std::int64_t size, int threads) {
  Scene s{.name = name};
  if (name == "cores") {
    s.title = "1 core against all cores";
    s.lesson = "04";
    s.unit = "GFLOP/s";
    s.contestants.push_back(cpu_gemm("naive loop, 1 core", "naive", size, 1));
    s.contestants.push_back(cpu_gemm("packed SIMD, 1 core", "packed-simd", size, 1));
    s.contestants.push_back(cpu_gemm(fmt::format("OpenMP, {} cores", threads), "openmp", size, threads));
    s.textbook_speedup = threads;
    s.textbook_fast = 2, s.textbook_slow = 1;
    s.textbook_source = fmt::format("{} cores do {}x the work of one (lesson 04, compute-bound)", threads, threads);
  } else if (name == "gemm") {
    s.title = "the GEMM ladder against the GPU";
    s.lesson = "05";
    s.unit = "GFLOP/s";
    s.contestants.push_back(cpu_gemm("naive loop", "naive", size, 1));
    s.contestants.push_back(cpu_gemm("loop order", "loop-order", size, 1));
    s.contestants.push_back(cpu_gemm("cache blocking", "blocked", size, 1));
    s.contestants.push_back(cpu_gemm("packed SIMD", "packed-simd", size, 1));
    const int openmp = int(s.contestants.size());
    s.contestants.push_back(cpu_gemm(fmt::format("OpenMP, {} cores", threads), "openmp", size, threads));
    s.contestants.push_back(cpu_gemm(fmt::format("AMX tiles (bf16), {} cores", threads), "amx-bf16", size, threads));
    const int gpu = int(s.contestants.size());
    s.contestants.push_back(gpu_gemm(size));
    s.lesson = "05, 07, 17";
    peak_ratio_textbook(s, gpu, openmp, threads);
  } else if (name == "bus") {
    const std::int64_t bytes = 4 * size * size;  // one N x N float32 matrix
    s.title = "pageable against pinned against many small copies";
    s.lesson = "08";
    s.unit = "GB/s";
    s.contestants = bus_contestants(bytes);
    const GpuStatus& status = gpu_status();
    if (!status.devices.empty())
      if (const GpuPeaks peaks = gpu_peaks(status.devices[0]); peaks.pcie_gbytes_per_s > 0)
        s.title += fmt::format(" (the link: {:.1f} GB/s each way, {})", peaks.pcie_gbytes_per_s, peaks.pcie_formula);
  } else if (name == "idle") {
    // Contestants that only sleep: what remains of the process's CPU time is the display's.
    s.title = "the display alone (the contestants sleep)";
    s.unit = "calls/s";
    s.unit_scale = 1;
    for (const char* who : {"sleeper A", "sleeper B"})
      s.contestants.push_back({.name = who, .work_per_call = 1,
                               .call = [] { std::this_thread::sleep_for(std::chrono::milliseconds(10)); },
                               .check = [] { return std::string(); }});
  } else {
    s.title = "the same CNN trained on the CPU and on the GPU";
    s.lesson = "20";
    s.unit = "images/s";
    s.unit_scale = 1;
    s.contestants.push_back(trainer(fmt::format("CPU, {} cores", threads), nn::DeviceTag::cpu, threads));
    s.contestants.push_back(trainer("GPU", nn::DeviceTag::cuda, threads));
    peak_ratio_textbook(s, 1, 0, threads);
  }
  return s;
}

RaceResult run_race(Scene& scene, const RaceOptions& o) {
  RaceResult r{.scene = scene.name, .unit = scene.unit, .seconds_per_heat = o.seconds,
               .textbook_speedup = scene.textbook_speedup, .textbook_source = scene.textbook_source,
               .lesson = scene.lesson};
  std::vector<std::unique_ptr<Lane>> lanes;
  for (std::size_t i = 0; i < scene.contestants.size(); ++i) lanes.push_back(std::make_unique<Lane>());
  r.lanes.resize(scene.contestants.size());
  const auto race_start = Clock::now();
  auto elapsed = [&] { return seconds_between(race_start, Clock::now()); };
  auto stopped = [&] { return o.stop != nullptr && o.stop->load(); };
  for (std::size_t i = 0; i < scene.contestants.size(); ++i) {
    Contestant& c = scene.contestants[i];
    LaneResult& out = r.lanes[i];
    out.name = c.name, out.absent = c.absent;
    if (out.absent.empty() && stopped()) out.absent = "not run: the race was interrupted";
    if (!out.absent.empty()) continue;
    Lane& lane = *lanes[i];
    std::atomic<bool> heat_over{false};
    std::atomic<double> last_done{0};
    const double t0 = elapsed();
    lane.started = t0;
    // The contestant works in its own thread; this one draws.
    std::thread worker([&] {
      while (!heat_over.load() && !stopped()) {
        c.call();
        lane.calls.fetch_add(1);
        last_done = elapsed();
      }
    });
    while (elapsed() - t0 < o.seconds && !stopped()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      if (o.on_frame) o.on_frame(scene, lanes, elapsed());
      out.live_rate = live_lane_rate(scene, i, lane, elapsed());
    }
    heat_over = true;
    worker.join();  // the call in flight completes: its time counts
    lane.finished = elapsed();
    out.calls = lane.calls.load();
    out.seconds = last_done.load() - t0;
    out.rate = out.seconds > 0 ? double(out.calls) * c.work_per_call / out.seconds * scene.unit_scale : 0;
    if (out.calls == 0) {
      out.check = "no call finished";
    } else {
      out.check = c.check();
    }
    if (o.on_frame) o.on_frame(scene, lanes, elapsed());
  }
  r.interrupted = stopped();
  double slowest = 0;
  for (std::size_t i = 0; i < r.lanes.size(); ++i) {
    const LaneResult& l = r.lanes[i];
    if (!l.absent.empty() || l.calls == 0 || !l.check.empty()) continue;
    if (r.winner < 0 || l.rate > r.lanes[std::size_t(r.winner)].rate) r.winner = int(i);
    if (slowest == 0 || l.rate < slowest) slowest = l.rate;
  }
  if (r.winner >= 0 && slowest > 0) r.speedup = r.lanes[std::size_t(r.winner)].rate / slowest;
  if (scene.textbook_fast >= 0 && scene.textbook_slow >= 0) {
    const LaneResult &fast = r.lanes[std::size_t(scene.textbook_fast)], &slow = r.lanes[std::size_t(scene.textbook_slow)];
    r.textbook_pair = fast.name + " over " + slow.name;
    if (fast.rate > 0 && slow.rate > 0) r.measured_textbook_pair = fast.rate / slow.rate;
  }
  return r;
}

double live_lane_rate(const Scene& s, std::size_t i, const Lane& lane, double elapsed) {
  const double started = lane.started.load(), finished = lane.finished.load();
  if (started < 0) return 0;
  const double t = (finished >= 0 ? finished : elapsed) - started;
  return t > 0 ? double(lane.calls.load()) * s.contestants[i].work_per_call / t * s.unit_scale : 0;
}

Json race_frame_json(const Scene& s, const std::vector<std::unique_ptr<Lane>>& lanes, double elapsed) {
  Json out = Json::array();
  for (std::size_t i = 0; i < lanes.size(); ++i) {
    const Contestant& c = s.contestants[i];
    const Lane& l = *lanes[i];
    Json j{{"name", c.name}};
    if (!c.absent.empty()) {
      j["absent"] = c.absent;
    } else {
      j["state"] = l.started.load() < 0 ? "waiting" : l.finished.load() < 0 ? "racing" : "done";
      j["calls"] = l.calls.load();
      j["rate"] = live_lane_rate(s, i, l, elapsed);
    }
    out.push_back(j);
  }
  return {{"title", s.title}, {"lesson", s.lesson}, {"unit", s.unit}, {"elapsed", elapsed}, {"lanes", out}};
}

Json race_json(const RaceResult& r) {
  Json lanes = Json::array();
  for (const LaneResult& l : r.lanes) {
    Json j{{"name", l.name}};
    if (!l.absent.empty()) {
      j["absent"] = l.absent;
    } else {
      j["calls"] = l.calls, j["seconds"] = l.seconds, j["rate"] = l.rate, j["live_rate"] = l.live_rate;
      j["check"] = l.check.empty() ? "ok" : l.check;
    }
    lanes.push_back(j);
  }
  return {{"scene", r.scene},
          {"unit", r.unit},
          {"seconds_per_heat", r.seconds_per_heat},
          {"lesson", r.lesson},
          {"lanes", lanes},
          {"winner", r.winner >= 0 ? Json(r.lanes[std::size_t(r.winner)].name) : Json()},
          {"speedup_over_slowest", r.speedup},
          {"textbook", {{"pair", r.textbook_pair}, {"predicted", r.textbook_speedup},
                        {"measured", r.measured_textbook_pair}, {"source", r.textbook_source}}},
          {"interrupted", r.interrupted},
          {"all_checked", r.all_checked()}};
}

}  // namespace flopslab::bench
