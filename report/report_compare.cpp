// `flopslab compare`: reading two reports and printing their headline figures side by side.
#include "report/report_compare.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <stdexcept>

#include <fmt/format.h>

#include "bench/roofline/roofline.h"
#include "harness/files.h"

namespace flopslab::bench {
namespace {

double number(const Json& j, const char* key) {
  return j.contains(key) && j[key].is_number() ? j[key].get<double>() : std::nan("");
}
std::string text(const Json& j, const char* key) {
  if (!j.contains(key)) return "?";
  return j[key].is_string() ? j[key].get<std::string>() : j[key].dump();
}
std::string threads(const Json& j) {
  const double t = number(j, "threads");
  return std::isfinite(t) ? fmt::format(", {} thread{}", t, t == 1 ? "" : "s") : "";
}

void add(std::vector<Figure>& out, const std::string& section, std::string name, const std::string& unit, double value,
         bool higher_is_better = true) {
  if (std::isfinite(value) && value > 0) out.push_back({section, std::move(name), unit, value, higher_is_better});
}

void gemm_rows(std::vector<Figure>& out, const std::string& section, const Json& rows) {
  for (const Json& r : rows) {
    const double m = number(r, "m"), n = number(r, "n"), k = number(r, "k");
    const std::string shape = m == n && n == k ? fmt::format("{}^3", m) : fmt::format("{}x{}x{}", m, n, k);
    add(out, section, fmt::format("{} {}{}", text(r, "variant"), shape, threads(r)), "GFLOP/s", number(r, "gflops"));
  }
}

}  // namespace

// Every headline figure of a report.json: peaks, latency per level, bandwidth per kernel (in
// cache and at the largest working set), GEMM and convolution rungs, channel shuffle, training
// throughput and accuracy, the GPU's probes and GEMM rungs. Throws std::invalid_argument when
// `report` is not a flopslab report.
static std::vector<Figure> headline_figures(const Json& report) {
  if (!report.is_object() || !report.contains("schema") || !report.contains("sections") || !report["sections"].is_object())
    throw std::invalid_argument("not a flopslab report (no schema and sections)");
  std::vector<Figure> out;
  const Json& s = report["sections"];
  if (s.contains("cpu")) {
    const Json& cpu = s["cpu"];
    if (cpu.contains("flops")) {
      const Json points = cpu["flops"].value("points", Json::array());
      for (const Json& p : points)
        add(out, "cpu", fmt::format("peak {}{}", text(p, "loop"), threads(p)), "GFLOP/s", number(p, "gflops_best"));
      // Loops are named by instruction set (avx512-fp32, neon-fp32, sve-fp32), so two machines
      // of different architectures share no loop: the best vector loop per precision and thread
      // count is the figure they have in common.
      std::map<std::string, double> best_vector;  // figure name -> GFLOP/s
      std::vector<std::string> order;
      for (const Json& p : points) {
        if (!p.contains("isa") || !p.contains("precision") || text(p, "isa") == "scalar") continue;
        const std::string name = "peak " + text(p, "precision") + ", best vector loop" + threads(p);
        if (!best_vector.count(name)) order.push_back(name), best_vector[name] = 0;
        best_vector[name] = std::max(best_vector[name], number(p, "gflops_best"));
      }
      for (const std::string& name : order) add(out, "cpu", name, "GFLOP/s", best_vector[name]);
    }
    if (cpu.contains("latency"))
      for (const Json& l : cpu["latency"].value("levels", Json::array()))
        add(out, "cpu", fmt::format("latency {}", text(l, "level")), "ns", number(l, "latency_ns"), false);
    if (cpu.contains("bandwidth")) {
      // Per kernel and thread count: the best (in cache) and the largest working set's.
      std::map<std::string, std::pair<double, std::pair<double, double>>> seen;  // best, (bytes, GB/s) largest
      std::vector<std::string> order;
      for (const Json& p : cpu["bandwidth"].value("points", Json::array())) {
        const std::string key = text(p, "kernel") + threads(p);
        if (!seen.count(key)) order.push_back(key), seen[key] = {0, {0, 0}};
        auto& [best, largest] = seen[key];
        best = std::max(best, number(p, "gbytes_per_s"));
        if (number(p, "bytes") >= largest.first) largest = {number(p, "bytes"), number(p, "gbytes_per_s")};
      }
      for (const std::string& key : order) {
        add(out, "cpu", "bandwidth " + key + ", best", "GB/s", seen[key].first);
        add(out, "cpu", "bandwidth " + key + ", largest working set", "GB/s", seen[key].second.second);
      }
    }
  }
  // The roofline's ridge points: where a level's bandwidth meets the fp32 peak. A ridge further
  // left lets kernels of lower intensity reach the peak, so lower counts as better.
  if (s.contains("roofline"))
    for (const Json& r : s["roofline"].value("ridges", Json::array()))
      add(out, "roofline", fmt::format("ridge {} ({}){}", text(r, "memory"), text(r, "device"), threads(r)), "FLOP/byte",
          number(r, "intensity"), false);
  if (s.contains("gemm")) gemm_rows(out, "gemm", s["gemm"].value("rows", Json::array()));
  if (s.contains("conv")) {
    for (const Json& r : s["conv"].value("rows", Json::array()))
      add(out, "conv", fmt::format("{} {} {}{}", text(r, "variant"), text(r, "layer_name"), text(r, "pass"), threads(r)),
          "GFLOP/s", number(r, "gflops"));
    for (const Json& r : s["conv"].value("channel_shuffle", Json::array()))
      add(out, "conv", fmt::format("channel shuffle {}x{}, {} groups{}", number(r, "n"), number(r, "c"), number(r, "groups"),
                                   threads(r)),
          "GB/s", number(r, "shuffle_gbytes_per_s"));
  }
  if (s.contains("training"))
    for (const Json& m : s["training"].value("models", Json::array())) {
      add(out, "training", text(m, "model") + " samples/s", "samples/s", number(m, "samples_per_s"));
      add(out, "training", text(m, "model") + " test accuracy", "%", 100 * number(m, "test_accuracy"));
    }
  if (s.contains("gpu_gemm")) gemm_rows(out, "gpu_gemm", s["gpu_gemm"].value("rows", Json::array()));
  if (s.contains("gpu") && s["gpu"].contains("probes")) {
    const Json& g = s["gpu"]["probes"];
    if (g.contains("gpu-flops")) add(out, "gpu", "peak FP32", "GFLOP/s", number(g["gpu-flops"], "gflops_best"));
    if (g.contains("gpu-bandwidth"))
      add(out, "gpu", "device-to-device copy", "GB/s", number(g["gpu-bandwidth"], "d2d_gbytes_per_s"));
    if (g.contains("gpu-launch")) {
      add(out, "gpu", "launch and wait", "us", number(g["gpu-launch"], "launch_and_wait_us"), false);
      add(out, "gpu", "launch throughput", "us", number(g["gpu-launch"], "launch_throughput_us"), false);
      add(out, "gpu", "graph replay", "us", number(g["gpu-launch"], "graph_replay_us"), false);
    }
    if (g.contains("pcie"))
      for (const Json& f : g["pcie"].value("fits", Json::array())) {
        const std::string what = text(f, "direction") + (f.contains("memory") ? ", " + text(f, "memory") : "");
        add(out, "bus", "bandwidth " + what, "GB/s", number(f, "gbytes_per_s"));
        add(out, "bus", "latency " + what, "us", 1e6 * number(f, "latency_s"), false);
      }
  }
  return out;
}

ReportComparison compare_reports(const Json& a, const Json& b) {
  const std::vector<Figure> fa = headline_figures(a), fb = headline_figures(b);
  ReportComparison c{.schema = a["schema"].get<std::string>()};
  if (b["schema"] != a["schema"])
    throw std::invalid_argument(fmt::format("the reports have different schema versions: A is {} but B is {}", a["schema"].dump(),
                                            b["schema"].dump()));
  auto machine = [](const Json& r) {
    return r.contains("machine") && r["machine"].contains("cpu") ? text(r["machine"]["cpu"], "brand") : std::string("?");
  };
  c.machine_a = machine(a), c.machine_b = machine(b);
  std::map<std::pair<std::string, std::string>, const Figure*> in_b;
  for (const Figure& f : fb) in_b[{f.section, f.name}] = &f;
  std::map<std::pair<std::string, std::string>, bool> in_a;
  for (const Figure& f : fa) {
    in_a[{f.section, f.name}] = true;
    const auto it = in_b.find({f.section, f.name});
    if (it == in_b.end()) {
      c.only_a.push_back(f.section + ": " + f.name);
      continue;
    }
    c.both.push_back({f.section, f.name, f.unit, f.value, it->second->value, f.higher_is_better});
  }
  for (const Figure& f : fb)
    if (!in_a.count({f.section, f.name})) c.only_b.push_back(f.section + ": " + f.name);
  for (const auto& [name, _] : a["sections"].items())
    if (!b["sections"].contains(name)) c.sections_a_only.push_back(name);
  for (const auto& [name, _] : b["sections"].items())
    if (!a["sections"].contains(name)) c.sections_b_only.push_back(name);
  auto roofs = [](const Json& report) {
    const Json& s = report["sections"];
    const Json r = s.contains("roofline") ? s["roofline"]
                                          : roofline::roofline_json({.roofs = roofline::roofs_from_sections(s)});
    return Json{{"roofs", r.value("roofs", Json::array())}, {"ridges", r.value("ridges", Json::array())}};
  };
  c.roofs_a = roofs(a), c.roofs_b = roofs(b);
  return c;
}

Json read_report(const std::string& dir) {
  const std::string path = dir + "/report.json";
  if (!std::filesystem::exists(path)) throw std::invalid_argument(dir + " is not a report directory (no report.json)");
  try {
    return Json::parse(read_file(path));
  } catch (const Json::exception& e) {
    throw std::invalid_argument(path + " is not JSON: " + e.what());
  }
}

std::vector<std::pair<std::string, Table>> comparison_tables(const ReportComparison& c) {
  std::vector<std::pair<std::string, Table>> out;
  for (const ComparedFigure& f : c.both) {
    if (out.empty() || out.back().first != f.section)
      out.push_back({f.section, Table({{"figure", Table::Align::left}, {"A"}, {"B"}, {"B / A"}, {"better", Table::Align::left}})});
    auto value = [&](double v) { return f.unit == "%" ? fmt::format("{:.2f}%", v) : fmt::format("{:.4g} {}", v, f.unit); };
    const double r = f.ratio();
    const bool b_better = f.higher_is_better ? r > 1 : r < 1;
    out.back().second.add_row({f.name, value(f.a), value(f.b), fmt::format("{:.3f}", r),
                               r == 1 ? "same" : b_better ? "B" : "A"});
  }
  return out;
}

Json comparison_json(const ReportComparison& c) {
  Json figures = Json::array();
  for (const ComparedFigure& f : c.both)
    figures.push_back({{"section", f.section}, {"name", f.name}, {"unit", f.unit}, {"a", f.a}, {"b", f.b},
                       {"ratio", f.ratio()}, {"higher_is_better", f.higher_is_better}});
  return {{"kind", "compare"}, {"schema", c.schema}, {"machine_a", c.machine_a}, {"machine_b", c.machine_b},
          {"figures", figures}, {"only_a", c.only_a}, {"only_b", c.only_b},
          {"sections_only_a", c.sections_a_only}, {"sections_only_b", c.sections_b_only},
          {"roofline", {{"a", c.roofs_a}, {"b", c.roofs_b}}}};
}

}  // namespace flopslab::bench
