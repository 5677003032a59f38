// The roofline model over a report's measurements (see roofline.h).
#include "bench/roofline/roofline.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "harness/format.h"
#include "kernels/conv.h"
#include "kernels/gemm.h"
#include "kernels/registry.h"

namespace flopslab::bench::roofline {
namespace {

double number(const Json& j, const char* key, double fallback = std::nan("")) {
  return j.is_object() && j.contains(key) && j[key].is_number() ? j[key].get<double>() : fallback;
}
std::string text(const Json& j, const char* key) {
  return j.is_object() && j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : std::string();
}
const Json& member(const Json& j, const char* key) {
  static const Json empty = Json::object();
  return j.is_object() && j.contains(key) ? j[key] : empty;
}
const Json& list(const Json& j, const char* key) {
  static const Json empty = Json::array();
  return j.is_object() && j.contains(key) && j[key].is_array() ? j[key] : empty;
}

std::string format_shape(double m, double n, double k) {
  return m == n && n == k ? fmt::format("{}^3", m) : fmt::format("{}x{}x{}", m, n, k);
}

// Per-core extents of the cache levels: where the latency probe saw each level end (its
// measured boundary), else half of each cache hwloc reports (what the probes' tables use).
std::vector<std::pair<std::string, double>> level_extents(const Json& cpu) {
  std::vector<std::pair<std::string, double>> levels;
  for (const Json& l : list(member(cpu, "latency"), "levels")) {
    const std::string name = text(l, "level");
    const double last = number(l, "last_bytes");
    // "DRAM" and "DRAM, beyond TLB reach" (page walks on every load) are memory, not caches.
    if (name.empty() || name.rfind("DRAM", 0) == 0 || !(last > 0)) continue;
    levels.emplace_back(name, last);
  }
  if (levels.empty())
    for (const Json& c : list(member(cpu, "bandwidth"), "hwloc_caches"))
      if (number(c, "bytes") > 0) levels.emplace_back(fmt::format("L{}", number(c, "level")), number(c, "bytes") / 2);
  std::sort(levels.begin(), levels.end(), [](const auto& a, const auto& b) { return a.second < b.second; });
  return levels;
}

// The level that holds `bytes` touched by `threads` threads: the private levels hold a
// thread's share, the last (shared) one everything. levels.size() is DRAM.
std::size_t level_of(const std::vector<std::pair<std::string, double>>& levels, double bytes, int threads) {
  for (std::size_t l = 0; l < levels.size(); ++l)
    if ((l + 1 == levels.size() ? bytes : bytes / threads) <= levels[l].second) return l;
  return levels.size();
}

void add_cpu_roofs(const Json& cpu, Roofs& roofs) {
  for (const Json& p : list(member(cpu, "flops"), "points")) {
    const double g = number(p, "gflops_best");
    if (!(g > 0)) continue;
    roofs.add({.name = text(p, "isa") + " " + text(p, "precision"),
               .compute = true,
               .precision = text(p, "precision"),
               .threads = int(number(p, "threads", 1)),
               .value = g,
               .source = fmt::format("flops probe, {} loop, best run", text(p, "loop"))});
  }
  // Memory: per cache level and thread count, the best of every STREAM kernel whose per-thread
  // working set lies in that level; DRAM's, as STREAM reports it, each kernel at its largest
  // working set when that is past the last cache (sets just past its edge still hit it in part).
  const std::vector<std::pair<std::string, double>> levels = level_extents(cpu);
  std::map<std::pair<int, std::size_t>, std::pair<double, std::string>> best;  // (threads, level) -> GB/s, what
  std::map<std::pair<int, std::string>, std::pair<double, double>> largest;    // (threads, kernel) -> bytes, GB/s
  for (const Json& p : list(member(cpu, "bandwidth"), "points")) {
    const int threads = int(number(p, "threads", 1));
    const double bytes = number(p, "bytes"), gbps = number(p, "gbytes_per_s");
    if (!(bytes > 0) || !(gbps > 0)) continue;
    auto& l = largest[{threads, text(p, "kernel")}];
    if (bytes >= l.first) l = {bytes, gbps};
    const std::size_t level = level_of(levels, bytes, threads);
    if (level == levels.size()) continue;
    auto& b = best[{threads, level}];
    if (gbps > b.first) b = {gbps, fmt::format("{} over {}", text(p, "kernel"), format_bytes(bytes))};
  }
  for (const auto& [key, b] : best)
    roofs.add({.name = levels[key.second].first,
               .compute = false,
               .threads = key.first,
               .value = b.first,
               .capacity_bytes = levels[key.second].second,
               .shared = key.second + 1 == levels.size(),
               .source = fmt::format("bandwidth probe, best of its kernels in this level ({})", b.second)});
  std::map<int, std::pair<double, std::string>> dram;  // threads -> GB/s, what
  for (const auto& [key, l] : largest)
    if (level_of(levels, l.first, key.first) == levels.size() && l.second > dram[key.first].first)
      dram[key.first] = {l.second, fmt::format("{} over {}", key.second, format_bytes(l.first))};
  for (const auto& [threads, d] : dram)
    roofs.add({.name = "DRAM",
               .compute = false,
               .threads = threads,
               .value = d.first,
               .source = fmt::format("bandwidth probe, best of its kernels at their largest working set ({})", d.second)});
}

void add_gpu_roofs(const Json& gpu, Roofs& roofs) {
  const Json& probes = member(gpu, "probes");
  if (const double g = number(member(probes, "gpu-flops"), "gflops_best"); g > 0)
    roofs.add({.name = "GPU FP32", .compute = true, .precision = "fp32", .device = "cuda", .threads = 1, .value = g,
               .source = "gpu-flops probe, FMA chains on every SM, best run"});
  // Memory: HBM (GDDR), the best of the probe's copies and triads over arrays far beyond the L2
  // and the driver's device-to-device copy; and the L2, read over half its size.
  const Json& bandwidth = member(probes, "gpu-bandwidth");
  double hbm = number(bandwidth, "d2d_gbytes_per_s", 0), l2 = 0, l2_bytes = 0;
  std::string hbm_test = "device-to-device copy";
  for (const Json& p : list(bandwidth, "points")) {
    const std::string test = text(p, "test");
    const double g = number(p, "gbytes_per_s", 0);
    if (test.rfind("read from L2", 0) == 0) {
      l2 = g, l2_bytes = 2 * number(p, "working_set", 0);
    } else if ((test.rfind("copy", 0) == 0 || test.rfind("triad", 0) == 0) && g > hbm) {
      hbm = g, hbm_test = test;
    }
  }
  if (l2 > 0 && l2_bytes > 0)
    roofs.add({.name = "GPU L2", .compute = false, .device = "cuda", .threads = 1, .value = l2, .capacity_bytes = l2_bytes,
               .shared = true, .source = "gpu-bandwidth probe, reads over half the L2"});
  if (hbm > 0)
    roofs.add({.name = "GPU memory", .compute = false, .device = "cuda", .threads = 1, .value = hbm, .shared = true,
               .source = "gpu-bandwidth probe, best over arrays beyond the L2 (" + hbm_test + ")"});
  // Tensor cores: the figure from the clocks where flopslab's table knows the architecture (the
  // probe's mma.sync chains stay below it on Hopper, whose full rate needs wgmma, as cuBLAS
  // uses: a measured roof there would stand below cuBLAS); else the chains' best run.
  const Json& tensor = member(member(probes, "gpu-flops"), "tensor");
  for (const char* precision : {"bf16", "tf32"}) {
    const Json& chain = member(tensor, precision);
    const double theoretical = number(tensor, fmt::format("theoretical_{}_gflops", precision).c_str(), 0);
    const double measured = chain.value("checked", false) ? number(chain, "gflops_best", 0) : 0;
    const std::string name = fmt::format("GPU {} tensor", precision);
    if (theoretical > 0)
      roofs.add({.name = name, .precision = precision, .device = "cuda", .value = theoretical,
                 .source = fmt::format("tensor cores from the clocks ({}); the mma.sync chain reached {:.0f} GFLOP/s",
                                       text(tensor, "theoretical_formula"), measured)});
    else if (measured > 0)
      roofs.add({.name = name, .precision = precision, .device = "cuda", .value = measured,
                 .source = "gpu-flops probe, mma.sync chains on every SM, best run (wgmma or tcgen05 may go faster)"});
  }
}

conv::Shape conv_shape(const Json& l) {
  conv::Shape s;
  s.n = std::int64_t(number(l, "n", 1)), s.c = std::int64_t(number(l, "c", 1)), s.h = std::int64_t(number(l, "h", 1));
  s.w = std::int64_t(number(l, "w", 1)), s.k = std::int64_t(number(l, "k", 1)), s.r = std::int64_t(number(l, "r", 1));
  s.s = std::int64_t(number(l, "s", 1));
  s.stride_h = std::int64_t(number(l, "stride_h", 1)), s.stride_w = std::int64_t(number(l, "stride_w", 1));
  s.pad_h = std::int64_t(number(l, "pad_h", 0)), s.pad_w = std::int64_t(number(l, "pad_w", 0));
  s.dilation_h = std::int64_t(number(l, "dilation_h", 1)), s.dilation_w = std::int64_t(number(l, "dilation_w", 1));
  s.groups = std::int64_t(number(l, "groups", 1));
  return s;
}

void add_gemm_points(const Json& rows, std::vector<Point>& out) {
  for (const Json& r : rows) {
    const double seconds = number(r, "median_s");
    if (r.contains("skipped") || !(seconds > 0)) continue;
    const std::string variant = text(r, "variant");
    out.push_back({.name = variant + " " + format_shape(number(r, "m"), number(r, "n"), number(r, "k")),
                   .family = text(r, "device") + " gemm " + format_shape(number(r, "m"), number(r, "n"), number(r, "k")),
                   .order = int(number(r, "step", 0)),
                   .kind = "gemm",
                   .precision = precision_of_variant(variant),
                   .device = text(r, "device"),
                   .threads = int(number(r, "threads", 1)),
                   .flops = number(r, "flops"),
                   .bytes = number(r, "bytes"),
                   .seconds = seconds,
                   .measured_bytes = number(r, "measured_dram_bytes", 0)});
  }
}

// Winograd computes a convolution with fewer multiplies than the direct count; so does the
// per-shape variant where it ran a Winograd step ("step 9").
bool winograd(const std::string& variant, const std::string& ran) {
  if (variant.find("winograd") != std::string::npos) return true;
  int step = 0;
  if (std::sscanf(ran.c_str(), "step %d", &step) != 1) return false;
  for (const ConvVariant* v : conv_variants())
    if (v->step == step && v->role == Role::ladder) return v->name.find("winograd") != std::string_view::npos;
  return false;
}

// `device`: of the section (the report's "conv" or "gpu_conv"), for rows that do not say.
void add_conv_points(const Json& conv, const std::string& device, std::vector<Point>& out) {
  const Json& layers = list(conv, "layers");
  for (const Json& r : list(conv, "rows")) {
    const double seconds = number(r, "median_s");
    const double index = number(r, "layer");
    if (r.contains("skipped") || !(seconds > 0) || !(index >= 0) || index >= double(layers.size())) continue;
    const conv::Shape shape = conv_shape(layers[std::size_t(index)]);
    const std::string variant = text(r, "variant"), ran = text(r, "ran");
    const std::string layer = text(r, "layer_name"), pass = text(r, "pass");
    out.push_back({.name = fmt::format("{}{} {} {}", variant, ran.empty() ? "" : " (" + ran + ")", layer, pass),
                   .family = fmt::format("{} conv {} {}", text(r, "device"), layer, pass),
                   .order = int(number(r, "step", 0)),
                   .kind = "conv",
                   .precision = precision_of_variant(variant),
                   .device = text(r, "device").empty() ? device : text(r, "device"),
                   .threads = int(number(r, "threads", 1)),
                   .flops = conv::useful_flop_count(shape),
                   .bytes = conv::compulsory_bytes(shape),
                   .seconds = seconds,
                   .effective_rate = winograd(variant, ran),
                   .measured_bytes = number(r, "measured_dram_bytes", 0)});
  }
  for (const Json& s : list(conv, "channel_shuffle")) {
    const double seconds = number(member(s, "shuffle"), "median_s");
    if (!(seconds > 0) || !(number(s, "bytes") > 0)) continue;
    out.push_back({.name = fmt::format("channel shuffle {}x{}x{}, {} groups", number(s, "n"), number(s, "c"),
                                       number(s, "plane"), number(s, "groups")),
                   .family = device + " shuffle",
                   .kind = "shuffle",
                   .device = device,
                   .threads = int(number(s, "threads", 1)),
                   .flops = 0,
                   .bytes = number(s, "bytes"),
                   .seconds = seconds});
  }
}

// Each counted layer's forward and backward at each batch, joined by batch (the path a layer
// takes across the ridge), and the whole step: the layers' FLOPs and bytes summed, plus the
// optimizer's traffic, over the step's median time. A step with an uncounted layer is left out.
void add_training_points(const Json& profiles, std::vector<Point>& out) {
  for (const Json& p : profiles) {
    const std::string model = text(p, "model"), device = text(p, "device").empty() ? "cpu" : text(p, "device");
    const int threads = int(number(p, "threads", 1)), batch = int(number(p, "batch", 0));
    double flops = 0, bytes = number(p, "optimizer_bytes"), largest = 0;
    bool all_counted = true;
    int index = -1;
    for (const Json& l : list(p, "layers")) {
      ++index;  // "#3 ReLU": a model has several layers of one kind
      if (!l.contains("forward_bytes")) {
        all_counted = false;
        continue;
      }
      for (const char* pass : {"forward", "backward"}) {
        const double f = number(l, fmt::format("{}_flops", pass).c_str()), b = number(l, fmt::format("{}_bytes", pass).c_str());
        const double seconds = 1e-3 * number(l, fmt::format("{}_ms", pass).c_str());
        flops += f, bytes += b, largest = std::max(largest, b);
        if (!(b > 0) || !(seconds > 0)) continue;  // a view, or a pass that did not run
        out.push_back({.name = fmt::format("{} #{} {} {}, batch {}", model, index, text(l, "layer"), pass, batch),
                       .family = fmt::format("{} {} #{} {} {}", device, model, index, text(l, "layer"), pass),
                       .order = batch,
                       .kind = "layer",
                       .device = device,
                       .threads = threads,
                       .flops = f,
                       .bytes = b,
                       .seconds = seconds,
                       .input_may_be_cached = true});
      }
    }
    const double step = 1e-3 * number(p, "step_ms");
    if (all_counted && step > 0 && flops > 0)
      out.push_back({.name = fmt::format("{} training step, batch {}", model, batch),
                     .family = fmt::format("{} {} training step", device, model),
                     .order = batch,
                     .kind = "step",
                     .device = device,
                     .threads = threads,
                     .flops = flops,
                     .bytes = bytes,
                     .seconds = step,
                     .working_set = largest});  // one layer's set is live at a time
  }
}

}  // namespace

std::string precision_of_variant(const std::string& variant) {
  for (const char* p : {"bf16", "tf32", "fp16"})
    if (variant.find(p) != std::string::npos) return p;
  return "fp32";
}

const Roof* Roofs::compute_for(const std::string& device, const std::string& precision, int threads) const {
  const Roof* best = nullptr;
  for (const Roof& r : roofs_)
    if (r.compute && r.device == device && r.precision == precision && r.threads == threads &&
        (best == nullptr || r.value > best->value))
      best = &r;
  return best;
}

const Roof* Roofs::memory_for(const std::string& device, double working_set, int threads) const {
  const Roof* best = nullptr;  // the smallest level that holds the working set
  for (const Roof& r : roofs_)
    if (!r.compute && r.device == device && r.threads == threads &&
        (r.shared ? working_set : working_set / threads) <= r.capacity_bytes &&
        (best == nullptr || r.capacity_bytes < best->capacity_bytes))
      best = &r;
  return best;
}

const Roof* Roofs::next_faster(const Roof& level) const {
  const Roof* best = nullptr;
  for (const Roof& r : roofs_)
    if (!r.compute && r.device == level.device && r.threads == level.threads && r.capacity_bytes < level.capacity_bytes &&
        (best == nullptr || r.capacity_bytes > best->capacity_bytes))
      best = &r;
  return best;
}

std::string Placement::bound_name() const {
  if (!not_placed.empty()) return "-";
  if (memory_bound || compute == nullptr) return memory->name + " bandwidth";
  return compute->name + " peak";
}

Placement place(const Point& point, const Roofs& roofs) {
  Placement p{.point = point};
  const int threads = point.device == "cpu" ? point.threads : 1;
  const double working_set = point.working_set > 0 ? point.working_set : point.bytes;
  p.memory = roofs.memory_for(point.device, working_set, threads);
  if (point.flops > 0) p.compute = roofs.compute_for(point.device, point.precision, threads);
  if (!(point.seconds > 0) || !(point.bytes > 0)) {
    p.not_placed = "no time or no byte count";
  } else if (point.flops > 0 && p.compute == nullptr) {
    p.not_placed = point.device == "cpu" ? fmt::format("no {} compute roof measured on {} thread{} here",
                                                       point.precision, threads, threads == 1 ? "" : "s")
                                         : fmt::format("no {} compute roof measured on the GPU here (the gpu-flops "
                                                       "probe of this report timed FP32 FMAs only)",
                                                       point.precision);
  } else if (p.memory == nullptr) {
    p.not_placed = point.device == "cpu"
                       ? fmt::format("no bandwidth measured on {} thread{} here", threads, threads == 1 ? "" : "s")
                       : std::string("no GPU memory bandwidth measured here");
  }
  if (!p.not_placed.empty()) {
    p.compute = p.memory = nullptr;
    return p;
  }
  auto bound_by = [&](const Roof* memory) {
    p.memory = memory;
    if (point.flops > 0) {
      const double memory_limit = point.intensity() * p.memory->value;
      p.memory_bound = memory_limit < p.compute->value;
      p.attainable = std::min(p.compute->value, memory_limit);
      p.fraction = point.gflops() / p.attainable;
    } else {  // data movement: GB/s against the level's bandwidth
      p.memory_bound = true;
      p.attainable = p.memory->value;
      p.fraction = point.gbytes_per_s() / p.attainable;
    }
  };
  bound_by(p.memory);
  if (point.input_may_be_cached && p.memory_bound && p.fraction > kAboveRoofTolerance) {
    const std::string by_size = p.memory->name;
    for (const Roof* faster = roofs.next_faster(*p.memory); faster != nullptr && p.memory_bound &&
                                                            p.fraction > kAboveRoofTolerance;
         faster = roofs.next_faster(*faster))
      bound_by(faster);
    p.note = fmt::format("faster than {} allows: its input was still in {}, written by the layer before", by_size,
                         p.memory->name);
  }
  p.above_roof = !point.effective_rate && p.fraction > kAboveRoofTolerance;
  return p;
}

Roofs roofs_from_sections(const Json& sections) {
  Roofs roofs;
  add_cpu_roofs(member(sections, "cpu"), roofs);
  add_gpu_roofs(member(sections, "gpu"), roofs);
  return roofs;
}

std::vector<Point> points_from_sections(const Json& sections) {
  std::vector<Point> points;
  add_gemm_points(list(member(sections, "gemm"), "rows"), points);
  add_conv_points(member(sections, "conv"), "cpu", points);
  add_gemm_points(list(member(sections, "gpu_gemm"), "rows"), points);
  add_conv_points(member(sections, "gpu_conv"), "cuda", points);
  add_training_points(list(member(sections, "training"), "layer_profiles"), points);
  return points;
}

int Roofline::flagged() const {
  return int(std::count_if(placements.begin(), placements.end(), [](const Placement& p) { return p.above_roof; }));
}

Roofline roofline_from_sections(const Json& sections) {
  Roofline r{.roofs = roofs_from_sections(sections)};
  for (const Point& p : points_from_sections(sections)) r.placements.push_back(place(p, r.roofs));
  r.counters = text(member(sections, "gemm"), "counters");
  if (r.counters.empty()) r.counters = text(member(sections, "conv"), "counters");
  return r;
}

namespace {
Json roof_json(const Roof& r) {
  Json j{{"name", r.name}, {"kind", r.compute ? "compute" : "memory"}, {"device", r.device}, {"threads", r.threads},
         {"source", r.source}};
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
  if (std::any_of(r.placements.begin(), r.placements.end(), [](const Placement& p) { return p.point.measured_bytes > 0; }))
    return "Measured FLOP/byte: the FLOPs over the bytes one call read from DRAM, counted by perf_event (last-level-cache "
           "misses x 64 bytes; one-thread CPU GEMM and convolution rows). It lies right of the model's where the operands stayed in "
           "cache from the call before, left where the kernel reads them from DRAM more than once.";
  if (!r.counters.empty() && r.counters != "perf_event")
    return "No measured FLOP/byte beside the model's: " + r.counters + ".";
  return "";
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
