// Reading a recipe file (JSON) into training phases, with every mistake named.
#include "nn/recipe.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>

#include "nn/optim.h"
#include "nn/parts.h"

namespace flopslab::nn {
namespace {

// Errors name the recipe, the phase and the field.
struct Where {
  std::string source, phase;
  [[noreturn]] void fail(const std::string& field, const std::string& message) const {
    throw std::invalid_argument("recipe " + source + ": " + (phase.empty() ? "" : phase + ": ") +
                                (field.empty() ? "" : field + ": ") + message);
  }
};

void only_keys(const ScheduleJson& object, const std::vector<std::string>& valid, const Where& where,
               const std::string& field = "") {
  for (auto it = object.begin(); it != object.end(); ++it)
    if (std::find(valid.begin(), valid.end(), it.key()) == valid.end()) {
      std::string list;
      for (const std::string& v : valid) list += (list.empty() ? "" : ", ") + v;
      where.fail(field, "unknown key '" + it.key() + "' (valid: " + list + ")");
    }
}

double positive(const ScheduleJson& v, const std::string& field, const Where& where, const char* what = "") {
  if (!v.is_number()) where.fail(field, std::string("must be a number") + what);
  const double x = v.get<double>();
  if (!(x > 0) || !std::isfinite(x)) where.fail(field, std::string("must be more than 0") + what + ", got " + format_number(x));
  return x;
}

// A constant or a [start, end] range of positive numbers.
std::pair<double, double> rate(const ScheduleJson& v, const std::string& field, const Where& where, double high) {
  auto one = [&](const ScheduleJson& x, const char* what) {
    const double r = positive(x, field, where, what);
    if (r > high) where.fail(field, std::string("must be at most ") + format_number(high) + what + ", got " + format_number(r));
    return r;
  };
  if (v.is_array()) {
    if (v.size() != 2) where.fail(field, "a range is [start, end]");
    if (!v[1].is_number() || !(v[1].get<double>() > 0))
      where.fail(field, "the end of a range must be positive, got " + (v[1].is_number() ? format_number(v[1].get<double>()) : v[1].dump()));
    return {one(v[0], " (the start)"), one(v[1], " (the end)")};
  }
  const double r = one(v, "");
  return {r, r};
}

Anneal decay(const ScheduleJson& phase, const std::string& key, bool range, const Where& where) {
  if (!phase.contains(key)) {
    if (range) where.fail(key, "a range needs a decay (linear, cosine, exponential, polynomial)");
    return Anneal::none;
  }
  if (!phase[key].is_string()) where.fail(key, "must be a string");
  const auto a = anneal_from_name(phase[key].get<std::string>());
  if (!a) where.fail(key, "'" + phase[key].get<std::string>() + "' is not none, linear, cosine, exponential or polynomial");
  if (!range && *a != Anneal::none) where.fail(key, "a constant has nothing to decay; give a [start, end] range");
  if (range && *a == Anneal::none) where.fail(key, "'none' for a range; give linear, cosine, exponential or polynomial");
  return *a;
}

Transforms parse_transforms(const ScheduleJson& t, const Where& where) {
  if (!t.is_object()) where.fail("transforms", "must be an object such as {\"flip\": true}");
  only_keys(t, {"flip", "crop_padding", "jitter", "mixup"}, where, "transforms");
  Transforms out;
  if (t.contains("flip")) {
    if (!t["flip"].is_boolean()) where.fail("transforms.flip", "must be true or false");
    out.flip = t["flip"].get<bool>();
  }
  if (t.contains("crop_padding")) {
    if (!t["crop_padding"].is_number_integer() || t["crop_padding"].get<long>() < 0 || t["crop_padding"].get<long>() > 64)
      where.fail("transforms.crop_padding", "must be a whole number from 0 to 64");
    out.crop_padding = t["crop_padding"].get<long>();
  }
  if (t.contains("jitter")) {
    const ScheduleJson& j = t["jitter"];
    if (!j.is_array() || j.size() != 2 || !j[0].is_number() || !j[1].is_number() || !(j[0].get<double>() > 0) ||
        j[1].get<double>() < j[0].get<double>())
      where.fail("transforms.jitter", "must be [low, high] with 0 < low <= high");
    out.jitter_low = j[0].get<float>(), out.jitter_high = j[1].get<float>();
  }
  if (t.contains("mixup")) {
    if (!t["mixup"].is_number() || t["mixup"].get<double>() < 0) where.fail("transforms.mixup", "must be 0 or more");
    out.mixup_alpha = t["mixup"].get<float>();
  }
  return out;
}

std::string fingerprint_of(const std::string& text) {
  std::uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (unsigned char c : text) h = (h ^ c) * 1099511628211ull;
  char out[17];
  std::snprintf(out, sizeof out, "%016llx", static_cast<unsigned long long>(h));
  return out;
}

}  // namespace

std::string Phase::label(std::size_t index) const {
  return "phase " + std::to_string(index + 1) + (name.empty() ? "" : " (" + name + ")");
}

double Recipe::epochs() const {
  double e = 0;
  for (const Phase& p : phases) e += p.epochs;
  return e;
}

Recipe parse_recipe(const ScheduleJson& doc, const std::string& source) {
  Where where{source, ""};
  if (!doc.is_object()) where.fail("", "must be a JSON object with \"phases\"");
  only_keys(doc, {"description", "batch", "phases"}, where);
  Recipe r;
  r.source = source;
  if (doc.contains("description")) {
    if (!doc["description"].is_string()) where.fail("description", "must be a string");
    r.description = doc["description"].get<std::string>();
  }
  if (doc.contains("batch")) {
    if (!doc["batch"].is_number_integer() || doc["batch"].get<std::int64_t>() < 1)
      where.fail("batch", "must be a whole number at least 1");
    r.batch = doc["batch"].get<std::int64_t>();
  }
  if (!doc.contains("phases") || !doc["phases"].is_array() || doc["phases"].empty())
    where.fail("phases", "must be a non-empty list of phases");
  const Phase* previous = nullptr;
  for (std::size_t i = 0; i < doc["phases"].size(); ++i) {
    const ScheduleJson& j = doc["phases"][i];
    Phase p;
    if (j.is_object() && j.contains("name") && j["name"].is_string()) p.name = j["name"].get<std::string>();
    where.phase = p.label(i);
    if (!j.is_object()) where.fail("", "must be an object");
    only_keys(j, {"name", "epochs", "optimizer", "lr", "lr_decay", "lr_power", "schedule", "interval", "momentum",
                  "momentum_decay", "weight_decay", "transforms", "lr_mult", "freeze"},
              where);
    if (j.contains("name") && !j["name"].is_string()) where.fail("name", "must be a string");
    if (!j.contains("epochs")) where.fail("epochs", "required (a number more than 0; fractions allowed)");
    p.epochs = positive(j["epochs"], "epochs", where);
    if (j.contains("optimizer")) {
      if (!j["optimizer"].is_string()) where.fail("optimizer", "must be a string");
      p.optimizer = j["optimizer"].get<std::string>();
      const auto& names = optimizer_names();
      if (std::find(names.begin(), names.end(), p.optimizer) == names.end())
        where.fail("optimizer", "'" + p.optimizer + "' is not one of sgd, nesterov, adam, adamw, rmsprop");
    } else if (previous) {
      p.optimizer = previous->optimizer;
    } else {
      where.fail("optimizer", "required in the first phase (sgd, nesterov, adam, adamw, rmsprop)");
    }
    if (!j.contains("lr")) where.fail("lr", "required (a number, or a [start, end] range)");
    std::tie(p.lr_start, p.lr_end) = rate(j["lr"], "lr", where, 1e6);
    p.lr_decay = decay(j, "lr_decay", j["lr"].is_array(), where);
    if (j.contains("lr_power")) p.lr_power = positive(j["lr_power"], "lr_power", where);
    if (j.contains("schedule")) {
      if (j["lr"].is_array()) where.fail("schedule", "give a constant lr (its base rate) with a schedule, not a range");
      if (!j["schedule"].is_object()) where.fail("schedule", "must be an object such as {\"type\": \"cosine\"}");
      p.schedule = j["schedule"];
      // Check it now against a nominal length; the real one is checked when the run is planned.
      try {
        make_scheduler(*p.schedule, {p.lr_start}, 1000000);
      } catch (const std::invalid_argument& e) {
        const std::string what = e.what();
        if (what.find("fewer than the") == std::string::npos && what.find("leaves none of") == std::string::npos)
          where.fail("schedule", what);
      }
    }
    if (j.contains("interval")) {
      if (!p.schedule) where.fail("interval", "only a phase with a schedule has one");
      if (!j["interval"].is_string() || (j["interval"] != "step" && j["interval"] != "epoch"))
        where.fail("interval", "must be \"step\" or \"epoch\"");
      p.schedule_per_epoch = j["interval"] == "epoch";
    }
    if (p.schedule && p.schedule->value("type", "") == "plateau" && !p.schedule_per_epoch)
      where.fail("interval", "a plateau schedule reads the test loss once per epoch: give \"interval\": \"epoch\"");
    if (j.contains("momentum")) {
      const ScheduleJson& m = j["momentum"];
      auto fraction = [&](const ScheduleJson& v) {
        if (!v.is_number() || !(v.get<double>() >= 0 && v.get<double>() < 1))
          where.fail("momentum", "must be at least 0 and less than 1, got " + v.dump());
        return v.get<double>();
      };
      if (m.is_array() && m.size() != 2) where.fail("momentum", "a range is [start, end]");
      p.momentum_start = fraction(m.is_array() ? m[0] : m);
      p.momentum_end = fraction(m.is_array() ? m[1] : m);
      p.momentum_decay = decay(j, "momentum_decay", j["momentum"].is_array(), where);
    } else if (j.contains("momentum_decay")) {
      where.fail("momentum_decay", "no momentum range to decay");
    }
    p.weight_decay = previous ? previous->weight_decay : 0;
    if (j.contains("weight_decay")) {
      if (!j["weight_decay"].is_number() || j["weight_decay"].get<double>() < 0)
        where.fail("weight_decay", "must be a number, 0 or more");
      p.weight_decay = j["weight_decay"].get<double>();
    }
    if (previous) p.augment = previous->augment, p.lr_mult = previous->lr_mult, p.freeze = previous->freeze;
    if (j.contains("transforms")) p.augment = parse_transforms(j["transforms"], where);
    if (j.contains("lr_mult")) {
      if (!j["lr_mult"].is_object()) where.fail("lr_mult", "must be an object such as {\"body\": 0.1, \"head\": 1}");
      p.lr_mult.emplace();
      for (auto it = j["lr_mult"].begin(); it != j["lr_mult"].end(); ++it) {
        if (!parse_part_name(it.key()))
          where.fail("lr_mult", "'" + it.key() + "' is not a part (" + kPartGrammar + ")");
        p.lr_mult->emplace_back(it.key(), positive(it.value(), "lr_mult." + it.key(), where));
      }
    }
    if (j.contains("freeze")) {
      if (!j["freeze"].is_array()) where.fail("freeze", "must be a list of parts such as [\"body\"]");
      p.freeze.emplace();
      for (const auto& part : j["freeze"]) {
        if (!part.is_string() || !parse_part_name(part.get<std::string>()))
          where.fail("freeze", part.dump() + " is not a part (" + kPartGrammar + ")");
        p.freeze->push_back(part.get<std::string>());
      }
    }
    r.phases.push_back(p);
    previous = &r.phases.back();
  }
  r.fingerprint = fingerprint_of(doc.dump());
  return r;
}

Recipe read_recipe(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::invalid_argument("--recipe: cannot read " + path);
  ScheduleJson doc;
  try {
    doc = ScheduleJson::parse(in);
  } catch (const ScheduleJson::parse_error& e) {
    std::string what = e.what();
    if (auto at = what.find("parse error"); at != std::string::npos) what = what.substr(at);
    throw std::invalid_argument("recipe " + path + ": not valid JSON (" + what + ")");
  }
  return parse_recipe(doc, path);
}

Recipe constant_recipe(const std::string& optimizer, double lr, double epochs, double weight_decay) {
  ScheduleJson doc = {{"description", "constant learning rate"},
                      {"phases", {{{"epochs", epochs}, {"optimizer", optimizer}, {"lr", lr}, {"weight_decay", weight_decay}}}}};
  return parse_recipe(doc, "the command line");
}

std::vector<PhaseSpan> plan_phases(const Recipe& recipe, std::int64_t steps_per_epoch) {
  std::vector<PhaseSpan> spans;
  double epochs = 0;
  std::int64_t begin = 0;
  for (std::size_t k = 0; k < recipe.phases.size(); ++k) {
    epochs += recipe.phases[k].epochs;
    const std::int64_t end = std::llround(epochs * double(steps_per_epoch));
    if (end <= begin)
      throw std::invalid_argument("recipe " + recipe.source + ": " + recipe.phases[k].label(k) + ": epochs: " +
                                  format_number(recipe.phases[k].epochs) + " epochs is no whole step at " +
                                  std::to_string(steps_per_epoch) + " steps per epoch");
    spans.push_back({begin, end - begin});
    begin = end;
  }
  return spans;
}

double phase_lr(const Phase& p, std::int64_t i, std::int64_t n) {
  return anneal(p.lr_decay, p.lr_start, p.lr_end, double(i) / double(std::max<std::int64_t>(n, 1)), p.lr_power);
}

std::optional<double> phase_momentum(const Phase& p, std::int64_t i, std::int64_t n) {
  if (!p.momentum_start) return std::nullopt;
  return anneal(p.momentum_decay, *p.momentum_start, *p.momentum_end, double(i) / double(std::max<std::int64_t>(n, 1)),
                p.lr_power);
}

}  // namespace flopslab::nn
