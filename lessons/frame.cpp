// The lesson frame's printing: headings, textbook-against-measured rows and the checks' verdicts.
#include "lessons/frame.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <stdexcept>

#include <fmt/format.h>

#include "harness/cpu_share.h"
#include "harness/machine/machine.h"

namespace flopslab::lessons {
std::string format_value(double v, const std::string& unit) {
  if (!std::isfinite(v)) return "n/a";
  if (unit == "%") return fmt::format("{:.1f}%", 100 * v);
  const std::string number = std::abs(v) >= 100 ? fmt::format("{:.0f}", v)
                             : std::abs(v) >= 10 ? fmt::format("{:.1f}", v)
                                                 : fmt::format("{:.2f}", v);
  return unit.empty() ? number : unit == "x" ? number + "x" : number + " " + unit;
}

namespace {

LessonOutcome outcome;
std::chrono::steady_clock::time_point outcome_started;

}  // namespace

const LessonOutcome& last_lesson_outcome() { return outcome; }

void LessonRun::emit(const std::string& text) {
  std::fputs(text.c_str(), stdout);
  std::fflush(stdout);
  outcome.transcript += text;
}

LessonRun::LessonRun(int number, std::string title) {
  outcome = LessonOutcome{.number = number, .title = title};
  outcome_started = std::chrono::steady_clock::now();
  const std::string heading = fmt::format("Lesson {:02d}: {}", number, title);
  emit(fmt::format("{}\n{}\n\n", heading, std::string(heading.size(), '=')));
}

void LessonRun::say(const std::string& text) {
  progress_.finish();
  emit(text + "\n");
}

void LessonRun::show(const bench::Table& table) {
  progress_.finish();
  emit(fmt::format("\n{}\n", table.text()));
}

void LessonRun::progress(const std::string& step) { progress_(step); }

std::function<void(const nn::StepInfo&)> LessonRun::training_progress(std::string what, int every) {
  return [this, what = std::move(what), every](const nn::StepInfo& s) {
    if (s.step % every == 0) progress(fmt::format("{}: epoch {} step {}/{}", what, s.epoch + 1, s.step + 1, s.steps));
  };
}

std::string StoredRun::describe() const {
  const Json& m = report.value("machine", Json::object());
  const Json& cpu = m.value("cpu", Json::object());
  const Json& topology = m.value("topology", Json::object());
  return fmt::format("Rechecked from {}: measured on {} ({} cores reported) on {}{}. Nothing is measured now; the "
                     "checks below run on the data stored there.",
                     path, cpu.value("brand", std::string("an unnamed CPU")), topology.value("physical_cores", 0),
                     m.value("date_utc", std::string("an unknown date")),
                     report.value("quick", false) ? " in quick mode" : "");
}

bool StoredRun::has_cpu_section(const char* name) const {
  const Json& sections = report.value("sections", Json::object());
  return sections.contains("cpu") && sections["cpu"].is_object() && sections["cpu"].contains(name);
}

const Json& StoredRun::cpu_section(const char* name) const {
  if (!has_cpu_section(name)) throw std::runtime_error(fmt::format("{} has no sections.cpu.{}", path, name));
  return report["sections"]["cpu"][name];
}

HiddenSmt find_hidden_smt(const Json& threads_probe) {
  HiddenSmt h;
  const Json& points = threads_probe.value("points", Json::array());
  const int cores = threads_probe.value("cores", 0), logical = threads_probe.value("logical_cpus", 0);
  if (logical != cores || cores < 4 || cores % 2 != 0) return h;
  const int half = cores / 2;
  const double one = point_value(points, {{"threads", 1}}, "fma_gflops");
  const double at_half = point_value(points, {{"threads", half}}, "fma_gflops");
  const double all = point_value(points, {{"threads", cores}}, "fma_gflops");
  if (!(one > 0) || !std::isfinite(at_half) || !std::isfinite(all)) return h;
  if (all >= 0.6 * cores * one || at_half < 0.8 * half * one) return h;
  h.found = true, h.cores = half, h.half_speedup = at_half / one, h.rest_gain = all / at_half - 1;
  h.finding = fmt::format(
      "The topology shows {0} cores with one hardware thread each, but the FMA loop scaled {1:.2f}x on {2} threads "
      "and {3:.2f}x on all {0}: the second {2} threads added {4:+.0f}%. That is what {2} cores with two hardware threads "
      "each do when a hypervisor presents every hardware thread as a core. The checks below count {2} cores.",
      cores, h.half_speedup, half, all / one, 100 * h.rest_gain);
  return h;
}

int lesson_threads(const LessonOptions& options) {
  return options.threads > 0 ? options.threads : bench::describe_machine().physical_cores;
}

std::function<void(const std::string&)> LessonRun::progress_callback() {
  return [this](const std::string& step) { progress(step); };
}

const Json* find_point(const Json& points, const std::vector<std::pair<std::string, Json>>& match) {
  for (const Json& p : points) {
    bool all = true;
    for (const auto& [key, value] : match) all = all && p.contains(key) && p[key] == value;
    if (all) return &p;
  }
  return nullptr;
}

double point_value(const Json& points, const std::vector<std::pair<std::string, Json>>& match, const char* field) {
  const Json* p = find_point(points, match);
  return p != nullptr && p->contains(field) && (*p)[field].is_number() ? (*p)[field].get<double>() : std::nan("");
}

void LessonRun::compare(std::string claim, double textbook, std::string source, double measured,
                        std::string unit) {
  comparisons_.push_back({std::move(claim), std::move(source), std::move(unit), textbook, measured});
}

bool LessonRun::check(bool ok, std::string statement) {
  checks_.emplace_back(ok ? Verdict::pass : Verdict::fail, std::move(statement));
  return ok;
}

bool LessonRun::check_with_cpus(const Json& share, int threads, bool ok, std::string statement) {
  const bench::CpuShare s = bench::CpuShare::from_json(share);
  if (bench::had_cpus_for(s, threads)) return check(ok, std::move(statement));
  untested(std::move(statement), fmt::format("the measurement on {} threads had only {}", threads, s.describe()));
  return true;
}

void LessonRun::untested(std::string statement, const std::string& why) {
  checks_.emplace_back(Verdict::untested, fmt::format("{}: {}", statement, why));
}

int LessonRun::finish(const std::string& takeaway) {
  progress_.finish();
  if (!comparisons_.empty()) {
    using A = bench::Table::Align;
    bench::Table t({{"claim", A::left}, {"textbook (source, year)", A::left}, {"measured here"}, {"ratio"}});
    for (const Comparison& c : comparisons_)
      t.add_row({c.claim, fmt::format("{} ({})", format_value(c.textbook, c.unit), c.source),
                 format_value(c.measured, c.unit),
                 std::isfinite(c.measured) && c.textbook != 0 ? fmt::format("{:.2f}", c.measured / c.textbook) : "n/a"});
    emit(fmt::format("\nTextbook vs measured\n\n{}", t.text()));
    const Comparison& h = comparisons_.front();
    outcome.has_headline = true;
    outcome.headline_claim = h.claim, outcome.headline_source = h.source, outcome.headline_unit = h.unit;
    outcome.headline_textbook = h.textbook, outcome.headline_measured = h.measured;
  }
  int failed = 0, untested = 0;
  emit("\nChecks\n\n");
  for (const auto& [verdict, statement] : checks_) {
    emit(fmt::format("  {}  {}\n", verdict == Verdict::pass ? "PASS" : verdict == Verdict::fail ? "FAIL" : "UNTESTED",
                     statement));
    failed += verdict == Verdict::fail ? 1 : 0;
    untested += verdict == Verdict::untested ? 1 : 0;
    if (verdict == Verdict::untested) outcome.untested.push_back(statement);
  }
  if (untested > 0)
    emit(fmt::format("\n{} check{} untested: the machine did not give this run what the claim is about (each line says "
                     "what was missing). Run the lesson again when it is idle.\n",
                     untested, untested == 1 ? " was" : "s were"));
  emit(fmt::format("\nTakeaway: {}\n", takeaway));
  if (failed > 0)
    emit(fmt::format("\n{} of {} checks failed on this machine; the numbers above say by how much.\n", failed,
                     checks_.size()));
  outcome.failed = failed, outcome.passed = int(checks_.size()) - failed - untested;
  outcome.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - outcome_started).count();
  return failed == 0 ? 0 : 1;
}

}  // namespace flopslab::lessons
