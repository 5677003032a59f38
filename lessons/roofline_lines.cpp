// Lessons 05, 09 and 11 on the roofline (see roofline_lines.h).
#include "lessons/roofline_lines.h"

#include <fmt/format.h>

#include "bench/probes/probe.h"
#include "bench/roofline/roofline.h"
#include "harness/format.h"

namespace flopslab::lessons {

void say_roofline_lines(LessonRun& lesson, bool quick, const std::vector<const bench::GemmSweep*>& gemm,
                        const std::vector<const bench::ConvSweep*>& conv) {
  const bench::ProbeSession session({.quick = quick, .progress = lesson.progress_callback()});
  Json sections{{"cpu", Json::object()}, {"gemm", {{"rows", Json::array()}}}};
  for (const char* probe : {"flops", "latency", "bandwidth"})
    sections["cpu"][probe] = bench::find_probe(probe)->run(session.context).json;
  for (const bench::GemmSweep* s : gemm)
    for (const Json& row : bench::gemm_sweep_json(*s)["rows"]) sections["gemm"]["rows"].push_back(row);
  // Convolution rows index their sweep's layers: one sweep per lesson here.
  if (!conv.empty()) sections["conv"] = bench::conv_sweep_json(*conv.front());
  const bench::roofline::Roofline r = bench::roofline::roofline_from_sections(sections);
  lesson.say("\nOn this machine's roofline (lesson 22; FLOPs per compulsory byte, the roof that bounds each kernel "
             "there, and the share of it reached):");
  for (const bench::roofline::Placement& p : r.placements) {
    const bench::roofline::Point& pt = p.point;
    if (!p.not_placed.empty()) {
      lesson.say(fmt::format("  {} ({} thread{}): {}", pt.name, pt.threads, pt.threads == 1 ? "" : "s", p.not_placed));
      continue;
    }
    lesson.say(fmt::format("  {} ({} thread{}): {:.3g} FLOP/byte, {} of {}{}", pt.name, pt.threads,
                           pt.threads == 1 ? "" : "s", pt.intensity(), bench::format_percent(p.fraction),
                           p.bound_name(), p.above_roof ? "  ABOVE ITS ROOF: a count or a roof is wrong" : ""));
  }
}

}  // namespace flopslab::lessons
