// `flopslab demo [--scene cores|gemm|train|bus|idle] [--seconds S] [--size N] [--plain] [--json FILE]`.
#include "cli/command.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include <fmt/format.h>

#include "demo/demo.h"
#include "demo/race_roofline.h"
#include "report/roofline_svg.h"
#include "demo/demo_display.h"
#include "demo/demo_server.h"
#include "harness/files.h"
#include "harness/machine/machine.h"
#include "cli/args.h"

namespace flopslab::cli {
namespace {

struct DemoArgs {
  std::string scene = "cores", seconds, size, threads, json, serve, linger;
  bool quick = false, plain = false;
};

std::atomic<bool> interrupted{false};
void on_interrupt(int) { interrupted = true; }

int run_demo(const DemoArgs& a) {
  const double seconds = a.seconds.empty() ? (a.quick ? 1.0 : 5.0) : parse_number("--seconds", a.seconds, 0, 1e9);
  const std::int64_t size = a.size.empty() ? (a.quick ? 192 : 512) : parse_integer("--size", a.size, 0, 1LL << 40);
  const int threads = a.threads.empty() ? bench::describe_machine().physical_cores
                                        : int(parse_integer("--threads", a.threads, 1, kMaxThreads));
  if (const std::string problem = bench::scene_problem(a.scene, size, seconds); !problem.empty())
    throw UsageError("demo: " + problem);
  check_output_file("--json", a.json);
  std::unique_ptr<bench::RaceServer> server;
  double linger = 0;
  if (!a.serve.empty()) {
    int port = 0;
    try {
      port = int(parse_integer("--serve", a.serve, 1, 65535));
    } catch (const UsageError&) {
      throw UsageError("demo: --serve: '" + a.serve + "' is not a port (1 to 65535)");
    }
    linger = a.linger.empty() ? 60 : parse_number("--linger", a.linger, 0, 86400);
    try {
      server = std::make_unique<bench::RaceServer>(port);
    } catch (const std::runtime_error& e) {
      throw UsageError(std::string("demo: --serve: ") + e.what());
    }
  } else if (!a.linger.empty()) {
    throw UsageError("demo: --linger: only with --serve");
  }

  bench::Scene scene = bench::make_scene(a.scene, size, threads);
  const bool full_screen = !a.plain && isatty(STDOUT_FILENO) != 0;
  const char* no_color = std::getenv("NO_COLOR");
  bench::RaceDisplay display(full_screen, no_color == nullptr || *no_color == '\0');
  const std::string what = a.scene == "train"  ? std::string("the CNN at batch 64")
                           : a.scene == "idle" ? std::string("10 ms sleeps")
                           : a.scene == "bus"  ? fmt::format("{:.1f} MiB to the GPU per call (a {}x{} float32 matrix)",
                                                             4.0 * double(size) * double(size) / double(1 << 20), size, size)
                                               : fmt::format("{0}x{0} matrices", size);
  std::printf("flopslab demo: %s%s, %g s per contestant, %s\n", scene.title.c_str(),
              scene.lesson.empty() ? "" : fmt::format(" (lesson {})", scene.lesson).c_str(), seconds, what.c_str());
  if (server) std::printf("The race as a web page: http://%s:%d/ (any machine on this network)\n",
                          bench::describe_machine().hostname.c_str(), server->port());
  std::fflush(stdout);
  interrupted = false;
  auto previous = std::signal(SIGINT, on_interrupt);
  const auto race_started = std::chrono::steady_clock::now();
  const bench::RaceResult r = bench::run_race(
      scene, {.seconds = seconds,
              .on_frame =
                  [&](const bench::Scene& s, const auto& lanes, double t) {
                    display.frame(s, lanes, t);
                    if (server) server->publish(bench::race_frame_json(s, lanes, t));
                  },
              .stop = &interrupted});
  const double race_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - race_started).count();
  display.restore();
  std::printf("%s", bench::race_summary(r).c_str());
  std::printf("Display: %d frames in %.1f s (%.1f a second).\n", display.frames(), race_seconds,
              display.frames() / std::max(race_seconds, 1e-9));
  Json result = bench::race_json(r);
  if (bench::race_has_roofline(scene, r) && !interrupted) {
    std::printf("Measuring the roofs for the roofline (the FMA peak and DRAM bandwidth, a few seconds)...\n");
    std::fflush(stdout);
    const bench::roofline::Roofline roofline =
        bench::race_roofline(scene, r, bench::measure_race_roofs(scene, r));
    std::printf("%s", bench::race_roofline_summary(roofline).c_str());
    result["roofline"] = bench::roofline::roofline_json(roofline);
    result["roofline_svg"] = bench::roofline_svg(result["roofline"]);
  }
  if (!a.json.empty()) bench::write_file_atomically(a.json, result.dump(2) + "\n");
  if (server) {
    server->finish(result);
    std::printf("Serving the results for %g s more (Ctrl-C ends).\n", linger);
    std::fflush(stdout);
    for (double waited = 0; waited < linger && !interrupted; waited += 0.1)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::signal(SIGINT, previous);
  if (r.interrupted) return 130;
  return r.all_checked() && r.winner >= 0 ? 0 : 1;
}

}  // namespace

CLI::App* add_demo_command(CLI::App& app, CommandRun& run) {
  auto a = std::make_shared<DemoArgs>();
  auto* sub = app.add_subcommand(
      "demo", "The classroom race: contestants (CPU ladder rungs, 1 core and all cores, the GPU) do the same checked "
              "work in turn while a full-screen display shows their rates; a summary and the winner at the end");
  sub->add_option("--scene", a->scene,
                  "cores (the naive loop, one core, all cores; lesson 04), gemm (the GEMM ladder and the GPU; lessons "
                  "05-07), train (the CNN on the CPU and the GPU; lesson 20), bus (pageable, pinned and 4 KiB copies to the "
                  "GPU; lesson 08; needs a GPU) or idle (contestants that sleep: what the "
                  "display itself costs)  [cores]")
      ->type_name("NAME");
  sub->add_option("--seconds", a->seconds, "Seconds each contestant races  [5; --quick 1]")->type_name("S");
  sub->add_option("--size", a->size, "Matrix size N of the GEMM scenes (N x N x N); the bus scene copies one N x N float32 matrix  [512; --quick 192]")->type_name("N");
  sub->add_option("--threads", a->threads, "Cores of the all-core contestants  [physical cores]")->type_name("N");
  add_json_option(*sub, a->json, "the results");
  sub->add_option("--serve", a->serve,
                  "Also serve the race as a web page on PORT (self-contained: no internet needed), live by "
                  "server-sent events")
      ->type_name("PORT");
  sub->add_option("--linger", a->linger, "With --serve: keep serving the results this long after the race  [60]")
      ->type_name("S");
  sub->add_flag("--plain", a->plain, "Plain progress lines even on a terminal (they are the default elsewhere)");
  add_quick_flag(*sub, a->quick, "1 second per contestant, small matrices (a smoke test)");
  run = [a](const std::string&) { return run_demo(*a); };
  return sub;
}

}  // namespace flopslab::cli
