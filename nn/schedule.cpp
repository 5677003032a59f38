// PyTorch's learning-rate schedulers (nn/schedule.h): the annealing curves, the reader of a
// schedule's JSON, each scheduler class and the factory. One piece: like PyTorch's
// torch/optim/lr_scheduler.py, the schedulers stay side by side in one file, each a class of
// a few lines over the same base, so that a new one is added where the others are read.
#include "nn/schedule.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <set>
#include <stdexcept>

namespace flopslab::nn {

double anneal(Anneal kind, double start, double end, double pct, double power) {
  switch (kind) {
    case Anneal::none: return start;
    case Anneal::linear: return start + (end - start) * pct;
    case Anneal::cosine: return end + (start - end) / 2 * (std::cos(std::numbers::pi * pct) + 1);
    case Anneal::exponential: return start * std::pow(end / start, pct);
    case Anneal::polynomial: return end + (start - end) * std::pow(1 - pct, power);
  }
  return start;
}

std::optional<Anneal> anneal_from_name(const std::string& name) {
  for (Anneal a : {Anneal::none, Anneal::linear, Anneal::cosine, Anneal::exponential, Anneal::polynomial})
    if (name == anneal_name(a)) return a;
  return std::nullopt;
}

const char* anneal_name(Anneal kind) {
  switch (kind) {
    case Anneal::none: return "none";
    case Anneal::linear: return "linear";
    case Anneal::cosine: return "cosine";
    case Anneal::exponential: return "exponential";
    case Anneal::polynomial: return "polynomial";
  }
  return "?";
}

std::string format_number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

void LrScheduler::step(double) { ++position_; }

ScheduleJson LrScheduler::state() const { return {{"position", position_}}; }

void LrScheduler::load_state(const ScheduleJson& state) {
  if (!state.contains("position") || !state["position"].is_number_integer() || state["position"].get<long>() < 0)
    throw std::runtime_error("schedule state: no valid 'position'");
  position_ = state["position"].get<long>();
}

namespace {

// Reads the fields of one schedule description, refusing keys it does not know and values out
// of range, each error naming the field.
class Fields {
 public:
  Fields(const ScheduleJson& spec, std::set<std::string> allowed) : spec_(spec) {
    allowed.insert("type");
    allowed.insert("warmup");
    for (auto it = spec.begin(); it != spec.end(); ++it)
      if (!allowed.count(it.key()))
        throw std::invalid_argument("unknown key '" + it.key() + "' for a '" + spec.value("type", "") + "' schedule");
  }
  double number(const std::string& key, double fallback, double low, double high, bool open_low = false) const {
    if (!spec_.contains(key)) return fallback;
    if (!spec_[key].is_number()) throw std::invalid_argument(key + ": must be a number");
    const double v = spec_[key].get<double>();
    if (!std::isfinite(v) || v < low || v > high || (open_low && v == low))
      throw std::invalid_argument(key + ": must be " + (open_low ? "more than " : "at least ") + fmt(low) +
                                  (high < std::numeric_limits<double>::max() ? " and at most " + fmt(high) : "") +
                                  ", got " + fmt(v));
    return v;
  }
  long integer(const std::string& key, long fallback, long low) const {
    if (!spec_.contains(key)) return fallback;
    if (!spec_[key].is_number_integer()) throw std::invalid_argument(key + ": must be a whole number");
    const long v = spec_[key].get<long>();
    if (v < low) throw std::invalid_argument(key + ": must be at least " + std::to_string(low) + ", got " + std::to_string(v));
    return v;
  }
  std::string choice(const std::string& key, const std::string& fallback, const std::vector<std::string>& valid) const {
    if (!spec_.contains(key)) return fallback;
    if (!spec_[key].is_string()) throw std::invalid_argument(key + ": must be a string");
    const std::string v = spec_[key].get<std::string>();
    if (std::find(valid.begin(), valid.end(), v) == valid.end()) {
      std::string list;
      for (const std::string& s : valid) list += (list.empty() ? "" : ", ") + s;
      throw std::invalid_argument(key + ": '" + v + "' is not one of " + list);
    }
    return v;
  }
  bool flag(const std::string& key, bool fallback) const {
    if (!spec_.contains(key)) return fallback;
    if (!spec_[key].is_boolean()) throw std::invalid_argument(key + ": must be true or false");
    return spec_[key].get<bool>();
  }
  std::vector<long> increasing(const std::string& key) const {
    std::vector<long> out;
    if (!spec_.contains(key)) return out;
    if (!spec_[key].is_array()) throw std::invalid_argument(key + ": must be a list of whole numbers");
    for (const auto& v : spec_[key]) {
      if (!v.is_number_integer() || v.get<long>() < 0)
        throw std::invalid_argument(key + ": must be a list of whole numbers 0 or more");
      if (!out.empty() && v.get<long>() <= out.back()) throw std::invalid_argument(key + ": must increase");
      out.push_back(v.get<long>());
    }
    return out;
  }
  static std::string fmt(double v) { return format_number(v); }

 private:
  const ScheduleJson& spec_;
};

constexpr double kHuge = std::numeric_limits<double>::max();

// Schedules whose learning rate is a function of (base, position): all but the plateau.
class ClosedForm : public LrScheduler {
 public:
  double lr(std::size_t g) const override { return at(base_lrs_[g], position_); }
  virtual double at(double base, long t) const = 0;

 protected:
  explicit ClosedForm(std::vector<double> base) : LrScheduler(std::move(base)) {}
};

class Constant : public ClosedForm {
 public:
  explicit Constant(std::vector<double> base) : ClosedForm(std::move(base)) {}
  std::string describe() const override { return "constant"; }
  double at(double base, long) const override { return base; }
};

class StepLr : public ClosedForm {
 public:
  StepLr(std::vector<double> b, long step_size, double gamma) : ClosedForm(std::move(b)), size_(step_size), gamma_(gamma) {}
  std::string describe() const override { return "StepLR(step_size " + std::to_string(size_) + ", gamma " + Fields::fmt(gamma_) + ")"; }
  double at(double base, long t) const override { return base * std::pow(gamma_, double(t / size_)); }

 private:
  long size_;
  double gamma_;
};

class MultiStepLr : public ClosedForm {
 public:
  MultiStepLr(std::vector<double> b, std::vector<long> milestones, double gamma)
      : ClosedForm(std::move(b)), milestones_(std::move(milestones)), gamma_(gamma) {}
  std::string describe() const override {
    std::string m;
    for (long v : milestones_) m += (m.empty() ? "" : ",") + std::to_string(v);
    return "MultiStepLR(milestones " + m + ", gamma " + Fields::fmt(gamma_) + ")";
  }
  double at(double base, long t) const override {
    const auto passed = std::upper_bound(milestones_.begin(), milestones_.end(), t) - milestones_.begin();
    return base * std::pow(gamma_, double(passed));
  }

 private:
  std::vector<long> milestones_;
  double gamma_;
};

class ExponentialLr : public ClosedForm {
 public:
  ExponentialLr(std::vector<double> b, double gamma) : ClosedForm(std::move(b)), gamma_(gamma) {}
  std::string describe() const override { return "ExponentialLR(gamma " + Fields::fmt(gamma_) + ")"; }
  double at(double base, long t) const override { return base * std::pow(gamma_, double(t)); }

 private:
  double gamma_;
};

class CosineLr : public ClosedForm {
 public:
  CosineLr(std::vector<double> b, long t_max, double eta_min) : ClosedForm(std::move(b)), t_max_(t_max), eta_min_(eta_min) {}
  std::string describe() const override {
    return "CosineAnnealingLR(T_max " + std::to_string(t_max_) + ", eta_min " + Fields::fmt(eta_min_) + ")";
  }
  double at(double base, long t) const override {
    return eta_min_ + (base - eta_min_) * (1 + std::cos(std::numbers::pi * double(t) / double(t_max_))) / 2;
  }

 private:
  long t_max_;
  double eta_min_;
};

class PolynomialLr : public ClosedForm {
 public:
  PolynomialLr(std::vector<double> b, long total, double power) : ClosedForm(std::move(b)), total_(total), power_(power) {}
  std::string describe() const override {
    return "PolynomialLR(total_iters " + std::to_string(total_) + ", power " + Fields::fmt(power_) + ")";
  }
  double at(double base, long t) const override {
    return base * std::pow(1.0 - double(std::min(t, total_)) / double(total_), power_);
  }

 private:
  long total_;
  double power_;
};

// SGDR (Loshchilov & Hutter 2017): T_cur counts positions into the current cycle of T_i.
class WarmRestarts : public ClosedForm {
 public:
  WarmRestarts(std::vector<double> b, long t_0, long t_mult, double eta_min)
      : ClosedForm(std::move(b)), t_0_(t_0), t_mult_(t_mult), eta_min_(eta_min) {}
  std::string describe() const override {
    return "CosineAnnealingWarmRestarts(T_0 " + std::to_string(t_0_) + ", T_mult " + std::to_string(t_mult_) +
           ", eta_min " + Fields::fmt(eta_min_) + ")";
  }
  double at(double base, long t) const override {
    long t_cur = t, t_i = t_0_;
    while (t_cur >= t_i) {
      t_cur -= t_i;
      t_i *= t_mult_;
    }
    return eta_min_ + (base - eta_min_) * (1 + std::cos(std::numbers::pi * double(t_cur) / double(t_i))) / 2;
  }

 private:
  long t_0_, t_mult_;
  double eta_min_;
};

// 1cycle (Smith 2018) as OneCycleLR: the groups' base learning rates are max_lr.
class OneCycle : public ClosedForm {
 public:
  struct Settings {
    long total_steps;
    double pct_start, div_factor, final_div_factor, base_momentum, max_momentum;
    Anneal shape;
    bool cycle_momentum, three_phase;
  };
  OneCycle(std::vector<double> b, Settings s) : ClosedForm(std::move(b)), s_(s) {
    const double total = double(s.total_steps);
    if (s.three_phase)
      phases_ = {{s.pct_start * total - 1, 0, 1}, {2 * s.pct_start * total - 2, 1, 0}, {total - 1, 0, 2}};
    else
      phases_ = {{s.pct_start * total - 1, 0, 1}, {total - 1, 1, 2}};
  }
  std::string describe() const override {
    return "OneCycleLR(total_steps " + std::to_string(s_.total_steps) + ", pct_start " + Fields::fmt(s_.pct_start) +
           ", " + (s_.shape == Anneal::cosine ? "cos" : "linear") + ", div_factor " + Fields::fmt(s_.div_factor) +
           ", final_div_factor " + Fields::fmt(s_.final_div_factor) + (s_.three_phase ? ", three phases" : "") + ")";
  }
  double at(double base, long t) const override {
    const double levels[3] = {base / s_.div_factor, base, base / s_.div_factor / s_.final_div_factor};
    const auto [phase, pct] = where(t);
    return anneal(s_.shape, levels[phase.from], levels[phase.to], pct);
  }
  std::optional<double> momentum(std::size_t) const override {
    if (!s_.cycle_momentum) return std::nullopt;
    // Momentum is high where the learning rate is low: initial and min levels use max_momentum.
    const auto [phase, pct] = where(position_);
    auto level = [&](int l) { return l == 1 ? s_.base_momentum : s_.max_momentum; };
    return anneal(s_.shape, level(phase.from), level(phase.to), pct);
  }

 private:
  struct Phase {
    double end_step;
    int from, to;  // 0 initial_lr, 1 max_lr, 2 min_lr
  };
  std::pair<Phase, double> where(long t) const {
    double start = 0;
    for (std::size_t i = 0; i < phases_.size(); ++i) {
      if (double(t) <= phases_[i].end_step || i + 1 == phases_.size())
        return {phases_[i], (double(t) - start) / (phases_[i].end_step - start)};
      start = phases_[i].end_step;
    }
    return {phases_.back(), 1.0};
  }
  Settings s_;
  std::vector<Phase> phases_;
};

// ReduceLROnPlateau: the only schedule whose rate depends on what training measured.
class Plateau : public LrScheduler {
 public:
  struct Settings {
    bool maximise, relative;
    double factor, threshold, min_lr, eps;
    long patience, cooldown;
  };
  Plateau(std::vector<double> b, Settings s) : LrScheduler(b), s_(s), lrs_(std::move(b)) {
    best_ = s.maximise ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
  }
  std::string describe() const override {
    return std::string("ReduceLROnPlateau(") + (s_.maximise ? "max" : "min") + ", factor " + Fields::fmt(s_.factor) +
           ", patience " + std::to_string(s_.patience) + ", threshold " + Fields::fmt(s_.threshold) +
           (s_.relative ? " rel" : " abs") + ", cooldown " + std::to_string(s_.cooldown) + ", min_lr " +
           Fields::fmt(s_.min_lr) + ")";
  }
  bool needs_metric() const override { return true; }
  double lr(std::size_t g) const override { return lrs_[g]; }
  void step(double metric) override {
    if (std::isnan(metric)) throw std::logic_error("ReduceLROnPlateau needs a metric at every step");
    ++position_;
    if (better(metric)) {
      best_ = metric;
      bad_ = 0;
    } else {
      ++bad_;
    }
    if (cooldown_left_ > 0) {
      --cooldown_left_;
      bad_ = 0;
    }
    if (bad_ > s_.patience) {
      for (double& lr : lrs_) {
        const double reduced = std::max(lr * s_.factor, s_.min_lr);
        if (lr - reduced > s_.eps) lr = reduced;
      }
      cooldown_left_ = s_.cooldown;
      bad_ = 0;
    }
  }
  ScheduleJson state() const override {
    ScheduleJson j = LrScheduler::state();
    // JSON has no infinity: an untouched best is stored as null.
    j["best"] = std::isfinite(best_) ? ScheduleJson(best_) : ScheduleJson(nullptr);
    j["bad_epochs"] = bad_;
    j["cooldown_left"] = cooldown_left_;
    j["lrs"] = lrs_;
    return j;
  }
  void load_state(const ScheduleJson& j) override {
    LrScheduler::load_state(j);
    if (!j.contains("lrs") || !j["lrs"].is_array() || j["lrs"].size() != lrs_.size())
      throw std::runtime_error("schedule state: 'lrs' does not have one rate per parameter group");
    if (!j.contains("bad_epochs") || !j.contains("cooldown_left") || !j.contains("best"))
      throw std::runtime_error("schedule state: the plateau's counters are missing");
    lrs_ = j["lrs"].get<std::vector<double>>();
    bad_ = j["bad_epochs"].get<long>();
    cooldown_left_ = j["cooldown_left"].get<long>();
    best_ = j["best"].is_null() ? (s_.maximise ? -1 : 1) * std::numeric_limits<double>::infinity() : j["best"].get<double>();
  }

 private:
  bool better(double a) const {
    if (s_.maximise) return s_.relative ? a > best_ * (1 + s_.threshold) : a > best_ + s_.threshold;
    return s_.relative ? a < best_ * (1 - s_.threshold) : a < best_ - s_.threshold;
  }
  Settings s_;
  std::vector<double> lrs_;
  double best_;
  long bad_ = 0, cooldown_left_ = 0;
};

// A warm-up in front of another schedule (SequentialLR with one milestone): positions below
// `iters` scale the base rate, the rest run the inner schedule from its position 0.
class Warmup : public LrScheduler {
 public:
  Warmup(std::vector<double> b, bool exponential, long iters, double start_factor, std::unique_ptr<LrScheduler> inner)
      : LrScheduler(std::move(b)), exponential_(exponential), iters_(iters), start_(start_factor), inner_(std::move(inner)) {}
  std::string describe() const override {
    return std::string(exponential_ ? "exponential" : "linear") + " warm-up over " + std::to_string(iters_) +
           " from x" + Fields::fmt(start_) + ", then " + inner_->describe();
  }
  bool needs_metric() const override { return inner_->needs_metric(); }
  double lr(std::size_t g) const override {
    if (position_ >= iters_) return inner_->lr(g);
    const double frac = double(position_) / double(iters_);
    return base_lrs_[g] * (exponential_ ? std::pow(start_, 1 - frac) : start_ + (1 - start_) * frac);
  }
  std::optional<double> momentum(std::size_t g) const override {
    return position_ >= iters_ ? inner_->momentum(g) : std::nullopt;
  }
  void step(double metric) override {
    ++position_;
    // The step that reaches the milestone starts the inner schedule at its position 0.
    if (position_ > iters_) inner_->step(metric);
  }
  ScheduleJson state() const override {
    ScheduleJson j = LrScheduler::state();
    j["inner"] = inner_->state();
    return j;
  }
  void load_state(const ScheduleJson& j) override {
    LrScheduler::load_state(j);
    if (!j.contains("inner")) throw std::runtime_error("schedule state: the warm-up's inner schedule is missing");
    inner_->load_state(j["inner"]);
  }

 private:
  bool exponential_;
  long iters_;
  double start_;
  std::unique_ptr<LrScheduler> inner_;
};

// The schedule types, in the order of schedule.h, for help texts and error messages.
static const std::vector<std::string>& scheduler_types() {
  static const std::vector<std::string> types = {"constant",   "step",    "multistep",     "exponential", "cosine",
                                                 "polynomial", "plateau", "warm-restarts", "onecycle"};
  return types;
}

std::unique_ptr<LrScheduler> make_main(const ScheduleJson& spec, const std::string& type, std::vector<double> base,
                                       long length) {
  const long whole = std::max(length, 1L);
  if (type == "constant") {
    Fields f(spec, {});
    return std::make_unique<Constant>(std::move(base));
  }
  if (type == "step") {
    Fields f(spec, {"step_size", "gamma"});
    if (!spec.contains("step_size")) throw std::invalid_argument("step_size: required for a 'step' schedule");
    return std::make_unique<StepLr>(std::move(base), f.integer("step_size", 1, 1), f.number("gamma", 0.1, 0, kHuge, true));
  }
  if (type == "multistep") {
    Fields f(spec, {"milestones", "gamma"});
    std::vector<long> milestones = f.increasing("milestones");
    if (milestones.empty()) throw std::invalid_argument("milestones: required for a 'multistep' schedule");
    return std::make_unique<MultiStepLr>(std::move(base), std::move(milestones), f.number("gamma", 0.1, 0, kHuge, true));
  }
  if (type == "exponential") {
    Fields f(spec, {"gamma"});
    if (!spec.contains("gamma")) throw std::invalid_argument("gamma: required for an 'exponential' schedule");
    return std::make_unique<ExponentialLr>(std::move(base), f.number("gamma", 1, 0, kHuge, true));
  }
  if (type == "cosine") {
    Fields f(spec, {"t_max", "eta_min"});
    return std::make_unique<CosineLr>(std::move(base), f.integer("t_max", whole, 1), f.number("eta_min", 0, 0, kHuge));
  }
  if (type == "polynomial") {
    Fields f(spec, {"total_iters", "power"});
    return std::make_unique<PolynomialLr>(std::move(base), f.integer("total_iters", whole, 1),
                                          f.number("power", 0.9, 0, kHuge, true));
  }
  if (type == "plateau") {
    Fields f(spec, {"mode", "factor", "patience", "threshold", "threshold_mode", "cooldown", "min_lr", "eps"});
    Plateau::Settings s{.maximise = f.choice("mode", "min", {"min", "max"}) == "max",
                        .relative = f.choice("threshold_mode", "rel", {"rel", "abs"}) == "rel",
                        .factor = f.number("factor", 0.1, 0, 1, true),
                        .threshold = f.number("threshold", 1e-4, 0, kHuge),
                        .min_lr = f.number("min_lr", 0, 0, kHuge),
                        .eps = f.number("eps", 1e-8, 0, kHuge),
                        .patience = f.integer("patience", 10, 0),
                        .cooldown = f.integer("cooldown", 0, 0)};
    if (s.factor >= 1) throw std::invalid_argument("factor: must be less than 1");
    return std::make_unique<Plateau>(std::move(base), s);
  }
  if (type == "warm-restarts") {
    Fields f(spec, {"t_0", "t_mult", "eta_min"});
    if (!spec.contains("t_0")) throw std::invalid_argument("t_0: required for a 'warm-restarts' schedule");
    return std::make_unique<WarmRestarts>(std::move(base), f.integer("t_0", 1, 1), f.integer("t_mult", 1, 1),
                                          f.number("eta_min", 0, 0, kHuge));
  }
  if (type == "onecycle") {
    Fields f(spec, {"pct_start", "anneal", "cycle_momentum", "base_momentum", "max_momentum", "div_factor",
                    "final_div_factor", "three_phase", "total_steps"});
    OneCycle::Settings s{.total_steps = f.integer("total_steps", whole, 1),
                         .pct_start = f.number("pct_start", 0.3, 0, 1, true),
                         .div_factor = f.number("div_factor", 25, 0, kHuge, true),
                         .final_div_factor = f.number("final_div_factor", 1e4, 0, kHuge, true),
                         .base_momentum = f.number("base_momentum", 0.85, 0, 1),
                         .max_momentum = f.number("max_momentum", 0.95, 0, 1),
                         .shape = f.choice("anneal", "cos", {"cos", "linear"}) == "cos" ? Anneal::cosine : Anneal::linear,
                         .cycle_momentum = f.flag("cycle_momentum", true),
                         .three_phase = f.flag("three_phase", false)};
    if (s.total_steps < length)
      throw std::invalid_argument("total_steps: " + std::to_string(s.total_steps) + " is fewer than the " +
                                  std::to_string(length) + " steps it will be stepped through");
    // Its first phase must hold at least one step, or its slope divides by zero.
    if (s.pct_start * double(s.total_steps) - 1 <= 0)
      throw std::invalid_argument("pct_start: " + Fields::fmt(s.pct_start) + " of " + std::to_string(s.total_steps) +
                                  " steps leaves the rising phase empty");
    return std::make_unique<OneCycle>(std::move(base), s);
  }
  std::string list;
  for (const std::string& t : scheduler_types()) list += (list.empty() ? "" : ", ") + t;
  throw std::invalid_argument("type: '" + type + "' is not a schedule (valid: " + list + ")");
}

}  // namespace


std::unique_ptr<LrScheduler> make_scheduler(const ScheduleJson& spec, std::vector<double> base_lrs, long length) {
  if (!spec.is_object()) throw std::invalid_argument("a schedule must be a JSON object with a \"type\"");
  if (!spec.contains("type") || !spec["type"].is_string()) throw std::invalid_argument("type: required (a string)");
  for (double lr : base_lrs)
    if (!(lr > 0) || !std::isfinite(lr)) throw std::invalid_argument("the base learning rate must be positive");
  const std::string type = spec["type"].get<std::string>();
  if (!spec.contains("warmup")) return make_main(spec, type, std::move(base_lrs), length);

  const ScheduleJson& w = spec["warmup"];
  if (!w.is_object()) throw std::invalid_argument("warmup: must be an object such as {\"type\": \"linear\", \"iters\": 5}");
  for (auto it = w.begin(); it != w.end(); ++it)
    if (it.key() != "type" && it.key() != "iters" && it.key() != "start_factor")
      throw std::invalid_argument("warmup: unknown key '" + it.key() + "' (valid: type, iters, start_factor)");
  const std::string kind = w.value("type", "linear");
  if (kind != "linear" && kind != "exponential")
    throw std::invalid_argument("warmup.type: '" + kind + "' is not linear or exponential");
  if (!w.contains("iters") || !w["iters"].is_number_integer() || w["iters"].get<long>() < 1)
    throw std::invalid_argument("warmup.iters: required, a whole number at least 1");
  const long iters = w["iters"].get<long>();
  const double start = w.value("start_factor", 1.0 / 3);  // LinearLR's default
  if (!(start > 0 && start <= 1)) throw std::invalid_argument("warmup.start_factor: must be more than 0 and at most 1");
  if (iters >= length && length > 0)
    throw std::invalid_argument("warmup.iters: " + std::to_string(iters) + " leaves none of the " +
                                std::to_string(length) + " positions to the schedule after it");
  ScheduleJson main = spec;
  main.erase("warmup");
  auto inner = make_main(main, type, base_lrs, std::max(length - iters, 1L));
  return std::make_unique<Warmup>(std::move(base_lrs), kind == "exponential", iters, start, std::move(inner));
}

}  // namespace flopslab::nn
