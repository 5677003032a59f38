// A training step's time per layer, flopslab's against its PyTorch twin's.
#include "bench/training/twin_profile.h"

#include <algorithm>
#include <numeric>
#include <stdexcept>

#include <fmt/format.h>

#include "harness/external.h"

namespace flopslab::bench {

TwinStepProfile TwinStepProfile::from_json(const Json& j) {
  auto number = [&](const Json& from, const char* key) {
    if (!from.is_object() || !from.contains(key) || !from[key].is_number())
      throw std::runtime_error(fmt::format("the step profile has no number '{}'", key));
    return from[key].get<double>();
  };
  TwinStepProfile t;
  if (!j.is_object() || !j.contains("torch") || !j["torch"].is_string())
    throw std::runtime_error("the step profile names no PyTorch version ('torch')");
  t.torch_version = j["torch"].get<std::string>();
  t.step_ms = number(j, "step_ms");
  t.backward_ms = number(j, "backward_ms");
  t.optimizer_ms = number(j, "optimizer_ms");
  t.hooked_step_ms = number(j, "hooked_step_ms");
  if (!j.contains("layers") || !j["layers"].is_array() || j["layers"].empty())
    throw std::runtime_error("the step profile lists no layers");
  for (const Json& l : j["layers"]) {
    if (!l.is_object() || !l.contains("layer") || !l["layer"].is_string())
      throw std::runtime_error("a layer of the step profile has no name");
    t.layers.push_back({l["layer"].get<std::string>(), number(l, "forward_ms"), number(l, "backward_ms")});
  }
  t.ran = true;
  return t;
}

StepProfileComparison compare_step_profiles(const std::string& python, const std::string& model, std::int64_t batch,
                                            int threads, bool quick) {
  StepProfileComparison c{.model = model, .batch = batch, .threads = threads};
  StepTimingOptions o{.model = model, .batch = batch, .threads = threads, .profile = true};
  if (quick) o.timing = quick_timing();
  c.ours = time_training_steps(o);
  if (python.empty()) {
    c.twin.note = "no python3 with PyTorch here (scripts/setup-peers installs the newest)";
    return c;
  }
  const std::optional<Json> j =
      run_torch_script(python, "torch_step_profile.py",
                       fmt::format("--model {} --batch {} --threads {} --steps {}", model, batch, threads, quick ? 20 : 200),
                       c.twin.note);
  if (!j) return c;
  try {
    c.twin = TwinStepProfile::from_json(*j);
  } catch (const std::exception& e) {
    c.twin.note = std::string("the PyTorch step profile was not understood: ") + e.what();
  }
  return c;
}

namespace {

struct OursPerStep {
  std::vector<double> forward_ms, backward_ms;
  double layers_ms = 0, step_ms = 0, update_ms = 0, rest_ms = 0;
};

OursPerStep ours_per_step(const StepTiming& t) {
  OursPerStep o;
  const double steps = double(std::max<std::int64_t>(t.layers.steps, 1));
  for (std::size_t i = 0; i < t.layers.names.size(); ++i) {
    o.forward_ms.push_back(1e3 * t.layers.forward[i] / steps);
    o.backward_ms.push_back(1e3 * t.layers.backward[i] / steps);
    o.layers_ms += o.forward_ms.back() + o.backward_ms.back();
  }
  o.step_ms = 1e3 * t.step_s, o.update_ms = 1e3 * t.update_s;
  o.rest_ms = std::max(0.0, o.step_ms - o.layers_ms - o.update_ms);
  return o;
}

double twin_layers_ms(const TwinStepProfile& t) {
  return std::accumulate(t.layers.begin(), t.layers.end(), 0.0,
                         [](double sum, const TwinStepProfile::Layer& l) { return sum + l.forward_ms + l.backward_ms; });
}

// The twin's remainder from its hooked step, the run its layer times come from.
double twin_rest_ms(const TwinStepProfile& t) {
  return std::max(0.0, t.hooked_step_ms - twin_layers_ms(t) - t.optimizer_ms);
}

// Layer lists line up when they have the same length and each pair is the same kind of layer:
// the first four letters of the names ("Conv2d(1 -> 16, ...)" and "Conv2d", "BatchNorm(16)" and
// "BatchNorm2d").
bool layers_align(const StepProfileComparison& c) {
  const auto& ours = c.ours.layers.names;
  if (!c.twin.ran || ours.size() != c.twin.layers.size()) return false;
  for (std::size_t i = 0; i < ours.size(); ++i)
    if (ours[i].substr(0, 4) != c.twin.layers[i].name.substr(0, 4)) return false;
  return true;
}

std::string ms(double v) { return fmt::format("{:.3f}", v); }
std::string ratio(double theirs, double ours) { return ours > 0 ? fmt::format("{:.2f}x", theirs / ours) : "-"; }

}  // namespace

Table step_profile_table(const StepProfileComparison& c) {
  const OursPerStep o = ours_per_step(c.ours);
  const bool aligned = layers_align(c);
  const TwinStepProfile& t = c.twin;
  Table table({{"part of the step", Table::Align::left}, {"flopslab ms"}, {"PyTorch ms"}, {"PyTorch / flopslab"}});
  // A layer's cell is "forward + backward".
  auto both_ways = [](double forward, double backward) { return fmt::format("{:.3f} + {:.3f}", forward, backward); };
  for (std::size_t i = 0; i < c.ours.layers.names.size(); ++i)
    table.add_row({fmt::format("{} {}", i, c.ours.layers.names[i]), both_ways(o.forward_ms[i], o.backward_ms[i]),
                   aligned ? both_ways(t.layers[i].forward_ms, t.layers[i].backward_ms) : "-",
                   aligned ? ratio(t.layers[i].forward_ms + t.layers[i].backward_ms, o.forward_ms[i] + o.backward_ms[i])
                           : "-"});
  const bool twin = t.ran;
  table.add_row({"all layers", ms(o.layers_ms), twin ? ms(twin_layers_ms(t)) : "-",
                 twin ? ratio(twin_layers_ms(t), o.layers_ms) : "-"});
  table.add_row({"Adam's update", ms(o.update_ms), twin ? ms(t.optimizer_ms) : "-",
                 twin ? ratio(t.optimizer_ms, o.update_ms) : "-"});
  table.add_row({"loss and the rest", ms(o.rest_ms), twin ? ms(twin_rest_ms(t)) : "-",
                 twin ? ratio(twin_rest_ms(t), o.rest_ms) : "-"});
  table.add_row({"whole step (median)", ms(o.step_ms), twin ? ms(t.step_ms) : "-", twin ? ratio(t.step_ms, o.step_ms) : "-"});
  return table;
}

std::string step_profile_finding(const StepProfileComparison& c) {
  const OursPerStep o = ours_per_step(c.ours);
  std::string s = fmt::format("The {}'s training step at batch {} on {} thread{}: {:.3f} ms here", c.model, c.batch,
                              c.threads, c.threads == 1 ? "" : "s", o.step_ms);
  if (!c.twin.ran) return s + fmt::format("; PyTorch did not run: {}.", c.twin.note);
  const TwinStepProfile& t = c.twin;
  s += fmt::format(", {:.3f} ms in PyTorch {} ({:.2f}x as long). Its layers took {:.2f}x ours, Adam's update {:.2f}x.",
                   t.step_ms, t.torch_version, t.step_ms / o.step_ms, twin_layers_ms(t) / o.layers_ms,
                   o.update_ms > 0 ? t.optimizer_ms / o.update_ms : 0.0);
  if (!layers_align(c))
    return s + " The two models' layer lists do not line up, so they are not compared layer by layer.";
  // Where ours spends the most, and where PyTorch's lead is largest (if anywhere).
  std::size_t heaviest = 0, closest = 0;
  double closest_ratio = 1e300;
  for (std::size_t i = 0; i < o.forward_ms.size(); ++i) {
    const double mine = o.forward_ms[i] + o.backward_ms[i], theirs = t.layers[i].forward_ms + t.layers[i].backward_ms;
    if (mine > o.forward_ms[heaviest] + o.backward_ms[heaviest]) heaviest = i;
    if (mine > 0.05 * o.layers_ms && theirs / mine < closest_ratio) closest_ratio = theirs / mine, closest = i;
  }
  const double heavy = o.forward_ms[heaviest] + o.backward_ms[heaviest];
  s += fmt::format(" Most of ours goes to layer {} {} ({:.0f}% of the layers' time, {:.3f} ms against PyTorch's {:.3f}).",
                   heaviest, c.ours.layers.names[heaviest], 100 * heavy / o.layers_ms, heavy,
                   t.layers[heaviest].forward_ms + t.layers[heaviest].backward_ms);
  if (closest_ratio < 1e300)
    s += fmt::format(" Of the layers that take at least 5% of ours, PyTorch comes closest on layer {} {} ({:.2f}x ours).",
                     closest, c.ours.layers.names[closest], closest_ratio);
  return s + fmt::format(" PyTorch's layer times come from hooks, which lengthened its step to {:.3f} ms.",
                         t.hooked_step_ms);
}

Json step_profile_json(const StepProfileComparison& c) {
  const OursPerStep o = ours_per_step(c.ours);
  Json ours_layers = Json::array();
  for (std::size_t i = 0; i < c.ours.layers.names.size(); ++i)
    ours_layers.push_back({{"layer", c.ours.layers.names[i]}, {"forward_ms", o.forward_ms[i]}, {"backward_ms", o.backward_ms[i]}});
  Json j = {{"model", c.model},
            {"batch", c.batch},
            {"threads", c.threads},
            {"flopslab", {{"step_ms", o.step_ms}, {"spread", c.ours.spread}, {"backward_ms", 1e3 * c.ours.backward_s},
                          {"optimizer_ms", o.update_ms}, {"rest_ms", o.rest_ms}, {"layers", ours_layers}}}};
  if (!c.twin.ran) {
    j["pytorch"] = {{"note", c.twin.note}};
    return j;
  }
  Json twin_layers = Json::array();
  for (const TwinStepProfile::Layer& l : c.twin.layers)
    twin_layers.push_back({{"layer", l.name}, {"forward_ms", l.forward_ms}, {"backward_ms", l.backward_ms}});
  j["pytorch"] = {{"torch", c.twin.torch_version},  {"step_ms", c.twin.step_ms},
                  {"backward_ms", c.twin.backward_ms}, {"optimizer_ms", c.twin.optimizer_ms},
                  {"hooked_step_ms", c.twin.hooked_step_ms}, {"rest_ms", twin_rest_ms(c.twin)},
                  {"layers", twin_layers}};
  j["layers_aligned"] = layers_align(c);
  return j;
}

}  // namespace flopslab::bench
