// Lesson 08: the CPU-GPU bus. Transfer bandwidth against size and host-memory kind, the
// latency + bandwidth fit, one transfer against many, overlap, zero-copy reads; the link named for
// what it is (PCIe, NVLink-C2C on Grace, none on an integrated GPU). Without a GPU it says so and
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
  const std::string link_kind = j["link"]["kind"].get<std::string>();
  const bool on_pcie = link_kind == "PCIe";
  const int gen = j["link"]["gen"].get<int>();
  const double textbook_link = !on_pcie ? std::nan("") : gen == 3 ? 16 : gen == 4 ? 32 : gen == 5 ? 63 : std::nan("");
  const double many = j["one_vs_many"]["many_s"].get<double>() / j["one_vs_many"]["one_s"].get<double>();
  double best_overlap = 0;
  for (const Json& o : j["overlap"]) best_overlap = std::max(best_overlap, o["speedup"].get<double>());

  lesson.compare("1 MB host to device, pinned (µs)", 80, "d2l, PCIe 3.0", one_mb * 1e6, "");
  if (std::isfinite(textbook_link))
    lesson.compare(fmt::format("PCIe gen {} x16 per direction (GB/s)", gen), textbook_link, "d2l", bandwidth, "");
  if (link_kind == "NVLink-C2C")
    lesson.compare("NVLink-C2C per direction (GB/s)", bench::kNvlinkC2cGbytesPerDirection, "NVIDIA, 900 GB/s both ways",
                   bandwidth, "");
  const double zero_copy = point_value(j["zero_copy"], {{"access", "read pinned host memory in place (zero-copy)"}}, "gbytes_per_s");
  const double device_read = point_value(j["zero_copy"], {{"access", "read device memory"}}, "gbytes_per_s");
  // The model: in place, the kernel reads at the link's rate; from device memory at the memory's.
  // On an integrated GPU both are the same DRAM.
  const double memory_peak = bench::gpu_peaks(gpu.devices.front()).memory_gbytes_per_s;
  const bool integrated = link_kind != "PCIe" && link_kind != "NVLink-C2C";
  if (integrated || (link > 0 && memory_peak > 0))
    lesson.compare("zero-copy read of pinned host memory over reading device memory", integrated ? 1.0 : link / memory_peak,
                   integrated ? "one DRAM for both" : "the link's rate over the GPU memory's", zero_copy / device_read, "x");
  if (!on_pcie)
    lesson.say(fmt::format("This GPU's host link is {}: not PCIe. Where the GPU shares the CPU's memory or reaches it "
                           "coherently, reading host data in place is a design choice, not a mistake.",
                           link_kind));
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
