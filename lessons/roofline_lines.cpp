// Lessons 05, 09 and 11 on the roofline (see roofline_lines.h).
#include "lessons/roofline_lines.h"

#include <fmt/format.h>

#include "bench/probes/probe.h"
#include "bench/roofline/roofline.h"
#include "harness/format.h"

namespace flopslab::lessons {

namespace {

// The roofs' probes into a sections object, as the report holds them.
Json measured_roofs(LessonRun& lesson, bool quick, bool gpu) {
  const bench::ProbeSession session({.quick = quick, .progress = lesson.progress_callback()});
  Json sections{{"cpu", Json::object()}};
  for (const char* probe : {"flops", "latency", "bandwidth"})
    sections["cpu"][probe] = bench::find_probe(probe)->run(session.context).json;
  if (gpu)
    for (const char* probe : {"gpu-flops", "gpu-bandwidth", "pcie"})
      sections["gpu"]["probes"][probe] = bench::find_probe(probe)->run(session.context).json;
  return sections;
}

}  // namespace

void say_roofline_lines(LessonRun& lesson, bool quick, const std::vector<const bench::GemmSweep*>& gemm,
                        const std::vector<const bench::ConvSweep*>& conv) {
  Json sections = measured_roofs(lesson, quick, false);
  sections["gemm"]["rows"] = Json::array();
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

int say_training_roofline_lines(LessonRun& lesson, bool quick, const std::vector<bench::BatchProfile>& profiles) {
  std::vector<bench::BatchProfile> all = profiles;
  bool gpu = false;
  for (bench::BatchProfile& p : all) {
    if (p.device == "cpu" || !p.timing.layers.names.empty()) continue;
    gpu = true;
    for (const bench::BatchProfile& cpu : profiles)
      if (cpu.device == "cpu" && cpu.model == p.model && cpu.batch == p.batch) {
        p.timing.layers = cpu.timing.layers;  // the counts; no layer times on the GPU (zeroed)
        for (auto* v : {&p.timing.layers.forward, &p.timing.layers.backward}) std::fill(v->begin(), v->end(), 0.0);
        p.timing.layer_costs = cpu.timing.layer_costs;
        p.timing.parameters = cpu.timing.parameters;
      }
  }
  Json sections = measured_roofs(lesson, quick, gpu);
  sections["training"]["layer_profiles"] = bench::layer_profiles_json(all);
  const bench::roofline::Roofline r = bench::roofline::roofline_from_sections(sections);
  lesson.say("\nOn this machine's roofline (lesson 22): each step's FLOPs are its layers' (forward and backward), its "
             "bytes their compulsory traffic plus Adam's, over the step's median time.");
  for (const std::string& line : bench::roofline::training_summary(r)) lesson.say("  " + line);
  for (const bench::roofline::Placement& p : r.placements)
    if (p.above_roof)
      lesson.say(fmt::format("  {} ({}): ABOVE ITS ROOF ({} of {}): a count or a roof is wrong", p.point.name,
                             p.point.device, bench::format_percent(p.fraction), p.bound_name()));
  return r.flagged();
}

}  // namespace flopslab::lessons
