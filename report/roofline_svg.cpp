// The roofline as SVG (see roofline_svg.h).
#include "report/roofline_svg.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <utility>
#include <vector>

#include <fmt/format.h>

namespace flopslab::bench {
namespace {

std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) out += c == '<' ? "&lt;" : c == '>' ? "&gt;" : c == '&' ? "&amp;" : c == '"' ? "&quot;" : std::string(1, c);
  return out;
}

constexpr double kPanelWidth = 620, kPanelHeight = 440, kLeft = 64, kRight = 12, kTop = 30, kBottom = 44;
const char* const kColours[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

// Log-scale axes of one panel.
struct Axes {
  double x0, x1, y0, y1, left;  // log10 ranges, the panel's left edge
  double x(double v) const { return left + kLeft + (std::log10(v) - x0) / (x1 - x0) * (kPanelWidth - kLeft - kRight); }
  double y(double v) const {
    return kTop + (1 - (std::log10(v) - y0) / (y1 - y0)) * (kPanelHeight - kTop - kBottom);
  }
};

std::string panel(const Json& roofline, const std::string& device, int threads, double left) {
  std::vector<const Json*> points, compute, memory;
  for (const Json& p : roofline["points"])
    if (p.value("device", "") == device && p.value("threads", 0) == threads && p.value("flops", 0.0) > 0 &&
        !p.contains("not_placed"))
      points.push_back(&p);
  for (const Json& r : roofline["roofs"])
    if (r.value("device", "") == device && r.value("threads", 0) == threads)
      (r.value("kind", "") == "compute" ? compute : memory).push_back(&r);
  double i_lo = 1e300, i_hi = 0, g_lo = 1e300, g_hi = 0;
  for (const Json* p : points) {
    i_lo = std::min(i_lo, (*p)["intensity"].get<double>()), i_hi = std::max(i_hi, (*p)["intensity"].get<double>());
    g_lo = std::min(g_lo, (*p)["gflops"].get<double>()), g_hi = std::max(g_hi, (*p)["gflops"].get<double>());
  }
  for (const Json* r : compute) g_hi = std::max(g_hi, (*r)["gflops"].get<double>());
  const Axes a{std::floor(std::log10(std::min(i_lo / 2, 0.1))), std::ceil(std::log10(std::max(i_hi * 2, 100.0))),
               std::floor(std::log10(g_lo / 2)), std::log10(g_hi * 1.6), left};
  std::string s = fmt::format("<g class=\"panel\"><rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#999\"/>",
                              left + kLeft, kTop, kPanelWidth - kLeft - kRight, kPanelHeight - kTop - kBottom);
  s += fmt::format("<text x=\"{}\" y=\"18\" font-size=\"13\">{}: {} kernels</text>", left + kLeft,
                   device == "cpu" ? fmt::format("{} thread{}", threads, threads == 1 ? "" : "s") : std::string("GPU"),
                   points.size());
  for (double e = a.x0; e <= a.x1; ++e)
    s += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"10\" text-anchor=\"middle\">{:g}</text>", a.x(std::pow(10, e)),
                     kPanelHeight - kBottom + 14, std::pow(10, e));
  for (double e = std::ceil(a.y0); e <= a.y1; ++e)
    s += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"10\" text-anchor=\"end\">{:g}</text>", left + kLeft - 4,
                     a.y(std::pow(10, e)) + 3, std::pow(10, e));
  s += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"11\" text-anchor=\"middle\">FLOPs per compulsory byte</text>",
                   left + kLeft + (kPanelWidth - kLeft - kRight) / 2, kPanelHeight - 10);
  s += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"11\" text-anchor=\"middle\" transform=\"rotate(-90 {:.1f} {:.1f})\">GFLOP/s</text>",
                   left + 14, kTop + 150, left + 14, kTop + 150);
  double peak = 0;
  for (const Json* r : compute) peak = std::max(peak, (*r)["gflops"].get<double>());
  double fastest = 0;
  for (const Json* r : memory) fastest = std::max(fastest, (*r)["gbytes_per_s"].get<double>());
  const double x_lo = std::pow(10, a.x0), x_hi = std::pow(10, a.x1);
  for (const Json* r : memory) {  // bandwidth x intensity, up to the highest compute roof
    const double bw = (*r)["gbytes_per_s"].get<double>(), x_end = std::min(peak / bw, x_hi);
    const double x_start = std::max(x_lo, std::pow(10, a.y0) / bw);
    s += fmt::format("<line class=\"roof memory\" x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#777\" "
                     "stroke-dasharray=\"5 3\"><title>{} {:.4g} GB/s</title></line>",
                     a.x(x_start), a.y(x_start * bw), a.x(x_end), a.y(x_end * bw), escape((*r)["name"].get<std::string>()), bw);
    s += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"9\" fill=\"#555\">{} {:.0f} GB/s</text>", a.x(x_start) + 3,
                     a.y(x_start * bw) - 3, escape((*r)["name"].get<std::string>()), bw);
  }
  for (const Json* r : compute) {
    const double g = (*r)["gflops"].get<double>();
    if ((*r).value("precision", "") != "fp32" && g < peak) continue;  // fp64 and the like: their top only
    const double x_start = fastest > 0 ? std::max(x_lo, g / fastest) : x_lo;
    s += fmt::format("<line class=\"roof compute\" x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#000\">"
                     "<title>{} {:.4g} GFLOP/s</title></line>",
                     a.x(x_start), a.y(g), a.x(x_hi), a.y(g), escape((*r)["name"].get<std::string>()), g);
    s += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"9\" text-anchor=\"end\">{} {:.0f}</text>", a.x(x_hi) - 2,
                     a.y(g) - 2, escape((*r)["name"].get<std::string>()), g);
  }
  // Points, the rungs of one family joined in step order.
  std::vector<std::string> families;
  for (const Json* p : points)
    if (std::find(families.begin(), families.end(), (*p)["family"].get<std::string>()) == families.end())
      families.push_back((*p)["family"].get<std::string>());
  for (std::size_t f = 0; f < families.size(); ++f) {
    std::vector<const Json*> mine;
    for (const Json* p : points)
      if ((*p)["family"] == families[f]) mine.push_back(p);
    std::stable_sort(mine.begin(), mine.end(), [](const Json* x, const Json* y) { return (*x)["order"] < (*y)["order"]; });
    const char* colour = kColours[f % 10];
    std::string path;
    for (const Json* p : mine)
      path += fmt::format("{:.1f},{:.1f} ", a.x((*p)["intensity"].get<double>()), a.y((*p)["gflops"].get<double>()));
    s += fmt::format("<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-opacity=\"0.5\"/>", path, colour);
    for (const Json* p : mine) {
      const bool flagged = p->value("above_roof", false);
      s += fmt::format("<circle class=\"point{}\" cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"{}\" fill=\"{}\"><title>{}</title></circle>",
                       flagged ? " above-roof" : "", a.x((*p)["intensity"].get<double>()), a.y((*p)["gflops"].get<double>()),
                       flagged ? 6 : 3.5, flagged ? "red" : colour, escape(roofline_hover_text(*p)));
    }
  }
  return s + "</g>";
}

}  // namespace

std::string roofline_hover_text(const Json& p) {
  std::string text = fmt::format("{} ({} thread{}): {:.3g} FLOP/byte, {:.4g} GFLOP/s; bound: {}, {:.4g} attainable, {:.1f}% of it",
                                 p.value("name", ""), p.value("threads", 0), p.value("threads", 0) == 1 ? "" : "s",
                                 p.value("intensity", 0.0), p.value("gflops", 0.0), p.value("bound_roof", ""),
                                 p.value("attainable", 0.0), 100 * p.value("fraction_of_bound", 0.0));
  if (p.value("above_roof", false)) text += "; ABOVE ITS ROOF: a FLOP count, byte count or roof is wrong";
  if (p.value("effective_rate", false)) text += "; an effective rate (Winograd)";
  return text;
}

std::string roofline_svg(const Json& roofline) {
  if (!roofline.is_object() || !roofline.contains("points") || !roofline.contains("roofs")) return {};
  std::set<std::pair<std::string, int>> panels;
  for (const Json& p : roofline["points"])
    if (p.value("flops", 0.0) > 0 && !p.contains("not_placed")) panels.insert({p.value("device", ""), p.value("threads", 0)});
  if (panels.empty()) return {};
  std::string body;
  double left = 0;
  for (const auto& [device, threads] : panels) body += panel(roofline, device, threads, left), left += kPanelWidth;
  return fmt::format("<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"roofline\" width=\"{:.0f}\" height=\"{:.0f}\" "
                     "viewBox=\"0 0 {:.0f} {:.0f}\" font-family=\"sans-serif\">{}</svg>\n",
                     left, kPanelHeight, left, kPanelHeight, body);
}

}  // namespace flopslab::bench
