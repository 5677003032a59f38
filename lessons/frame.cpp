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

int lesson_threads(const LessonOptions& options) {
  return options.threads > 0 ? options.threads : bench::describe_machine().physical_cores;
}

std::function<void(const std::string&)> LessonRun::progress_callback() {
  return [this](const std::string& step) { progress(step); };
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
