// The roofline written out: report.json's "roofline", the tables, and the sentences (the
// kernels furthest below their roof, the measured intensities, the training points).
#include <algorithm>
#include <cmath>
#include <map>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "bench/roofline/roofline.h"
#include "harness/format.h"

namespace flopslab::bench::roofline {
namespace {
Json roof_json(const Roof& r) {
  Json j{{"name", r.name}, {"kind", r.compute ? "compute" : "memory"}, {"device", r.device}, {"threads", r.threads},
         {"source", r.source}};
  if (r.host_link) j["host_link"] = true;
  if (r.compute) j["precision"] = r.precision, j["gflops"] = r.value;
  else
    j["gbytes_per_s"] = r.value, j["capacity_bytes"] = std::isfinite(r.capacity_bytes) ? Json(r.capacity_bytes) : Json(),
    j["shared"] = r.shared;
  return j;
}
}  // namespace

Json roofline_json(const Roofline& r) {
  Json roofs = Json::array(), points = Json::array(), ridges = Json::array();
  for (const Roof& roof : r.roofs.all()) roofs.push_back(roof_json(roof));
  // Ridge points: where each level's bandwidth line meets the best fp32 compute roof.
  for (const Roof& m : r.roofs.all())
    if (!m.compute)
      if (const Roof* c = r.roofs.compute_for(m.device, "fp32", m.threads))
        ridges.push_back({{"memory", m.name}, {"compute", c->name}, {"device", m.device}, {"threads", m.threads},
                          {"intensity", c->value / m.value}, {"gflops", c->value}});
  for (const Placement& p : r.placements) {
    const Point& pt = p.point;
    Json j{{"name", pt.name}, {"family", pt.family}, {"order", pt.order}, {"kind", pt.kind},
           {"precision", pt.precision}, {"device", pt.device}, {"threads", pt.threads}, {"flops", pt.flops},
           {"bytes", pt.bytes}, {"seconds", pt.seconds}, {"effective_rate", pt.effective_rate}};
    if (pt.flops > 0) j["intensity"] = pt.intensity(), j["gflops"] = pt.gflops();
    if (pt.measured_bytes > 0)
      j["measured_dram_bytes"] = pt.measured_bytes, j["measured_intensity"] = pt.flops / pt.measured_bytes;
    j["gbytes_per_s"] = pt.gbytes_per_s();
    if (!p.not_placed.empty()) {
      j["not_placed"] = p.not_placed;
    } else {
      j["bound"] = p.memory_bound ? "memory" : "compute";
      j["bound_roof"] = p.bound_name();
      j["memory_roof"] = p.memory->name;
      if (p.compute != nullptr) j["compute_roof"] = p.compute->name;
      j["attainable"] = p.attainable;
      j["fraction_of_bound"] = p.fraction;
      j["above_roof"] = p.above_roof;
      if (!p.note.empty()) j["note"] = p.note;
    }
    points.push_back(j);
  }
  return {{"model", "roofline: attainable = min(compute roof, intensity x bandwidth of the level holding the working "
                    "set); intensity = FLOPs / compulsory bytes"},
          {"above_roof_tolerance", kAboveRoofTolerance},
          {"roofs", roofs},
          {"ridges", ridges},
          {"points", points},
          {"counters", r.counters},
          {"gpu_counters", r.gpu_counters},
          {"flagged", r.flagged()}};
}

Table roofs_table(const Roofs& roofs) {
  Table t({{"roof", Table::Align::left}, {"device", Table::Align::left}, {"threads"}, {"value"}, {"source", Table::Align::left}});
  for (const Roof& r : roofs.all())
    t.add_row({r.name, r.device, std::to_string(r.threads),
               r.compute ? fmt::format("{:.4g} GFLOP/s", r.value) : fmt::format("{:.4g} GB/s", r.value), r.source});
  return t;
}

Table roofline_table(const Roofline& r, int threads, PointSet set) {
  // The measured intensity beside the model's, where any point was counted.
  const bool measured = std::any_of(r.placements.begin(), r.placements.end(),
                                    [](const Placement& p) { return p.point.measured_bytes > 0; });
  std::vector<Table::Column> columns{{"kernel", Table::Align::left}, {"threads"}, {"FLOP/byte"}};
  if (measured) columns.push_back({"measured FLOP/byte"});
  columns.insert(columns.end(), {{"GFLOP/s"}, {"bound", Table::Align::left}, {"attainable"}, {"% of bound"},
                                 {"note", Table::Align::left}});
  Table t(columns);
  for (const Placement& p : r.placements) {
    const Point& pt = p.point;
    if (threads != 0 && pt.threads != threads) continue;
    if ((set == PointSet::kernels && pt.training()) || (set == PointSet::training && !pt.training())) continue;
    const bool moves = pt.flops == 0, placed = p.not_placed.empty();
    std::vector<std::string> cells{pt.name, pt.device == "cpu" ? std::to_string(pt.threads) : pt.device,
                                   moves ? "0" : fmt::format("{:.3g}", pt.intensity())};
    if (measured)
      cells.push_back(pt.measured_bytes > 0 && !moves ? fmt::format("{:.3g}", pt.flops / pt.measured_bytes) : "-");
    cells.insert(cells.end(),
                 {moves ? fmt::format("{:.4g} GB/s", pt.gbytes_per_s()) : fmt::format("{:.4g}", pt.gflops()),
                  placed ? p.bound_name() : "-",
                  placed ? fmt::format("{:.4g}{}", p.attainable, moves ? " GB/s" : "") : "-",
                  placed ? format_percent(p.fraction) : "-",
                  !placed            ? p.not_placed
                  : p.above_roof     ? "ABOVE ITS ROOF: a FLOP count, byte count or roof is wrong"
                  : pt.effective_rate ? "effective rate: Winograd does fewer multiplies than the direct count"
                                      : p.note});
    t.add_row(std::move(cells));
  }
  return t;
}

std::vector<std::string> furthest_below(const Roofline& r, int count) {
  std::vector<const Placement*> placed;
  for (const Placement& p : r.placements)
    if (p.not_placed.empty() && p.point.flops > 0 && !p.point.training()) placed.push_back(&p);
  std::sort(placed.begin(), placed.end(), [](const Placement* a, const Placement* b) { return a->fraction < b->fraction; });
  std::vector<std::string> out;
  for (const Placement* p : placed) {
    if (int(out.size()) == count) break;
    const Point& pt = p->point;
    out.push_back(fmt::format(
        "{} on {} thread{}: {} of its bound, {} at {:.3g} FLOP/byte ({:.4g} of {:.4g} GFLOP/s). {}", pt.name,
        pt.threads, pt.threads == 1 ? "" : "s", format_percent(p->fraction), p->bound_name(), pt.intensity(),
        pt.gflops(), p->attainable,
        p->memory_bound ? "Its compulsory traffic would allow more: it moves far more bytes than it must (no reuse "
                          "in registers or cache), or waits on latency rather than bandwidth."
                        : "Enough reuse for the compute roof, but its instructions do not keep the FMA units busy "
                          "(scalar or unvectorised code, loads and stores per FMA, or overheads)."));
  }
  return out;
}

std::string measured_intensity_note(const Roofline& r) {
  const auto counted = [&](bool gpu) {
    return std::any_of(r.placements.begin(), r.placements.end(), [&](const Placement& p) {
      return p.point.measured_bytes > 0 && (p.point.device != "cpu") == gpu;
    });
  };
  std::string note;
  if (counted(false))
    note = "Measured FLOP/byte: the FLOPs over the bytes one call read from DRAM, counted by perf_event (last-level-cache "
           "misses x 64 bytes; one-thread CPU GEMM and convolution rows). It lies right of the model's where the operands stayed in "
           "cache from the call before, left where the kernel reads them from DRAM more than once.";
  else if (!r.counters.empty() && r.counters != "perf_event")
    note = "No measured FLOP/byte beside the model's: " + r.counters + ".";
  if (counted(true))
    note += std::string(note.empty() ? "" : " ") +
            "On the GPU, the bytes one call read from and wrote to its DRAM, counted by CUPTI's range profiler "
            "(dram__bytes_read.sum + dram__bytes_write.sum) after the same L2 flush as the timed calls.";
  else if (!r.gpu_counters.empty())
    note += std::string(note.empty() ? "" : " ") + "No measured FLOP/byte on the GPU: " + r.gpu_counters + ".";
  return note;
}

std::vector<std::string> training_summary(const Roofline& r) {
  // Points of one family (a step, or one layer's pass), in batch order.
  std::map<std::string, std::vector<const Placement*>> families;
  std::vector<std::string> order;
  for (const Placement& p : r.placements) {
    if (!p.point.training() || !p.not_placed.empty() || !(p.point.flops > 0)) continue;
    if (!families.count(p.point.family)) order.push_back(p.point.family);
    families[p.point.family].push_back(&p);
  }
  std::vector<std::string> out, crossing;
  for (const std::string& family : order) {
    std::vector<const Placement*>& f = families[family];
    std::sort(f.begin(), f.end(), [](const Placement* a, const Placement* b) { return a->point.order < b->point.order; });
    if (f.front()->point.kind == "step") {
      std::string line = family.substr(family.find(' ') + 1) + fmt::format(" on {}", f.front()->point.device == "cpu"
                                                                                          ? fmt::format("{} thread(s)", f.front()->point.threads)
                                                                                          : std::string("the GPU"));
      for (const Placement* p : f)
        line += fmt::format("{} batch {}: {:.3g} FLOP/byte, {:.4g} GFLOP/s, {} of the {}", p == f.front() ? ":" : ";",
                            p->point.order, p->point.intensity(), p->point.gflops(), format_percent(p->fraction),
                            p->bound_name());
      out.push_back(line + ".");
      continue;
    }
    for (std::size_t i = 1; i < f.size(); ++i)
      if (f[i - 1]->memory_bound && !f[i]->memory_bound) {
        crossing.push_back(fmt::format("{} (batch {} to {})", family.substr(family.find(' ') + 1), f[i - 1]->point.order,
                                       f[i]->point.order));
        break;
      }
  }
  if (!crossing.empty())
    out.push_back(fmt::format("Layers that cross the ridge from memory-bound to compute-bound as the batch grows (the "
                              "weights are read once per step, however many samples use them): {}.",
                              fmt::join(crossing, "; ")));
  return out;
}

}  // namespace flopslab::bench::roofline
