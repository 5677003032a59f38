// Lesson 08: the CPU-GPU bus. Transfer bandwidth against size and host-memory kind, the
// latency + bandwidth fit, one transfer against many, overlap. Without a GPU it says so and
// measures the CPU's own copy bandwidth, the figure PCIe is compared with.
#include <cmath>

#include <fmt/format.h>

#include "harness/machine/gpu_runtime.h"
#include "bench/probes/probe.h"
#include "lessons/frame.h"
#include "lessons/report_data.h"

namespace flopslab::lessons {

int run_lesson_08(const LessonOptions& options) {
  LessonRun lesson(8, "The CPU-GPU bus");
  const bench::ProbeSession session({.quick = options.quick, .cores = options.threads, .progress = lesson.progress_callback()});
  const bench::GpuStatus& gpu = bench::gpu_status();
  if (!gpu.usable) {
    lesson.say(fmt::format("No usable GPU here ({}), so this runs the CPU half: main-memory copy bandwidth, what "
                           "a PCIe link is usually compared with.",
                           gpu.reason));
    const bench::ProbeReport bw = bench::find_probe("bandwidth")->run(session.context);
    lesson.say(bw.text());
    lesson.check(!bw.json["points"].empty(), "measured the CPU's copy bandwidth from L1 to DRAM");
    return lesson.finish("the CPU side measured; run this on a machine with an NVIDIA GPU for the bus.");
  }
  const bench::ProbeReport pcie = bench::find_probe("pcie")->run(session.context);
  lesson.say(pcie.text());
  const Json& j = pcie.json;
  auto fit = [&](const char* memory, const char* direction, const char* field) {
    return point_value(j["fits"], {{"memory", memory}, {"direction", direction}}, field);
  };
  const double latency = fit("pinned", "H2D", "latency_s"), bandwidth = fit("pinned", "H2D", "gbytes_per_s");
  const double one_mb = latency + 1e6 / (bandwidth * 1e9);
  const double link = j["link"]["gbytes_per_s"].get<double>();
  const int gen = j["link"]["gen"].get<int>();
  const double textbook_link = gen == 3 ? 16 : gen == 4 ? 32 : gen == 5 ? 63 : std::nan("");
  const double many = j["one_vs_many"]["many_s"].get<double>() / j["one_vs_many"]["one_s"].get<double>();
  double best_overlap = 0;
  for (const Json& o : j["overlap"]) best_overlap = std::max(best_overlap, o["speedup"].get<double>());

  lesson.compare("1 MB host to device, pinned (µs)", 80, "d2l, PCIe 3.0", one_mb * 1e6, "");
  if (std::isfinite(textbook_link))
    lesson.compare(fmt::format("PCIe gen {} x16 per direction (GB/s)", gen), textbook_link, "d2l", bandwidth, "");
  lesson.compare("pinned over pageable, H2D bandwidth", 1, "same bus either way", bandwidth / fit("pageable", "H2D", "gbytes_per_s"), "x");

  lesson.check(bandwidth >= fit("pageable", "H2D", "gbytes_per_s"),
               "pinned memory was at least as fast as pageable memory host to device");
  if (link > 0)
    lesson.check(bandwidth >= 0.5 * link, fmt::format("pinned copies reached at least half of the link's theoretical "
                                                      "rate ({:.0f}%)", 100 * bandwidth / link));
  lesson.check(many >= 5, fmt::format("the same bytes in 4 KiB pieces took at least 5x as long as in one copy ({:.0f}x)", many));
  lesson.check(best_overlap >= 1.3,
               fmt::format("spreading copy in / compute / copy out over streams saved at least 23% ({:.2f}x)", best_overlap));
  return lesson.finish(fmt::format(
      "every transfer pays about {:.0f} µs before its bytes flow at {:.0f} GB/s: move data to the GPU in few large "
      "pinned copies, and overlap them with compute.",
      latency * 1e6, bandwidth));
}

}  // namespace flopslab::lessons
