// The classroom race (`flopslab demo`): contestants do the same checked work while a display
// redraws about ten times a second. They run one heat after another, each alone on the
// machine for the race's seconds: side by side they would share the cores (and a GPU's host
// thread would take one), and the contest would measure the sharing. Every contestant's
// result is checked before a winner is named.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "harness/json.h"

namespace flopslab::bench {

struct Contestant {
  std::string name;         // "packed SIMD, 1 core"
  std::string absent;       // why it cannot race here (no GPU); empty when it can
  double work_per_call = 0; // in the scene's unit (FLOPs of one GEMM, images of one step)
  std::function<void()> call;            // one unit of work
  std::function<std::string()> check;    // empty when the last call's result is right, else what is wrong
  // For the roofline of the summary (race_roofline.h): the FLOPs and compulsory bytes of one
  // call, the bytes live at once, and where it ran. flops_per_call 0: not placed (copies, sleeps).
  double flops_per_call = 0, bytes_per_call = 0, working_set = 0;
  double link_bytes_per_call = 0;  // what a GPU contestant receives from the host per call
  std::string device = "cpu";
  std::string precision = "fp32";  // of its multiply-adds: "bf16" on the AMX rung, placed under that roof
  int threads = 1;
};

struct Scene {
  std::string name, title, lesson;  // "cores", "1 core against all cores", "04"
  std::string unit;                 // "GFLOP/s"
  double unit_scale = 1e-9;         // work per second times this is shown in `unit`
  std::vector<Contestant> contestants;
  // What the lesson's textbook column predicts for contestant `textbook_fast` over
  // `textbook_slow` (indices), and from what; 0: no textbook figure for this scene here.
  double textbook_speedup = 0;
  int textbook_fast = -1, textbook_slow = -1;
  std::string textbook_source;
};

// Live counters of one contestant, read by the display while the race runs.
struct Lane {
  std::atomic<std::int64_t> calls{0};
  std::atomic<double> started{-1}, finished{-1};  // seconds since the race began; -1: not yet
};

struct LaneResult {
  std::string name, absent, check;  // check: empty when right
  std::int64_t calls = 0;
  double seconds = 0, rate = 0;     // rate in the scene's unit
  double live_rate = 0;             // the last rate the display showed while it ran
};

struct RaceResult {
  std::string scene, unit;
  double seconds_per_heat = 0;
  std::vector<LaneResult> lanes;
  int winner = -1;                  // index into lanes, among those that raced and checked
  double speedup = 0;               // winner over the slowest that raced
  double textbook_speedup = 0, measured_textbook_pair = 0;  // the scene's textbook pair, predicted and measured
  std::string textbook_pair, textbook_source, lesson;
  bool interrupted = false;
  bool all_checked() const;
  int raced() const;  // contestants that ran at least one call
};

// Empty when the options can run; otherwise one sentence naming the problem (an unknown scene
// with the valid ones, a size whose matrices would not fit in a quarter of the memory).
std::string scene_problem(const std::string& scene, std::int64_t size, double seconds);
// The scene with its contestants set up (matrices allocated and filled).
Scene make_scene(const std::string& name, std::int64_t size, int threads);

struct RaceOptions {
  double seconds = 5;                     // per heat
  // Called about ten times a second from the race's own thread with the lanes so far.
  std::function<void(const Scene&, const std::vector<std::unique_ptr<Lane>>&, double elapsed)> on_frame;
  const std::atomic<bool>* stop = nullptr;  // set (Ctrl-C): end the race early
};
RaceResult run_race(Scene& scene, const RaceOptions& options);
// A lane's rate so far: its work over the time its heat has run (0 before it starts).
double live_lane_rate(const Scene& scene, std::size_t lane, const Lane& counters, double elapsed);
// The race so far, for the web page: title, lesson, unit, elapsed, and per lane its name,
// state (waiting, racing, done) and live rate, or why it is absent.
Json race_frame_json(const Scene& scene, const std::vector<std::unique_ptr<Lane>>& lanes, double elapsed);
Json race_json(const RaceResult& result);

}  // namespace flopslab::bench
