// Running the lessons in syllabus order in one process and writing the course summary.
#include "lessons/course.h"
#include "lessons/lessons.h"

#include <chrono>
#include <cmath>

#include <fmt/format.h>

#include "harness/affinity.h"
#include "harness/machine/gpu_runtime.h"

namespace flopslab::lessons {

namespace {
// Runs one lesson (or its recheck) into `e`: exit code, outcome and time. A lesson that throws
// (cannot run here, or stored data of an older schema) stops alone, not the whole course.
void run_one(const Lesson& l, CourseEntry& e, const std::function<int()>& body) {
  const auto started = std::chrono::steady_clock::now();
  try {
    e.exit_code = body();
  } catch (const std::exception& ex) {
    e.exit_code = 1;
    e.error = ex.what();
    std::printf("\nLesson %02d stopped: %s\n", l.number, ex.what());
  }
  e.outcome = last_lesson_outcome();
  if (e.outcome.number != l.number) e.outcome = LessonOutcome{.number = l.number, .title = l.title};
  e.outcome.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
}
}  // namespace

std::vector<CourseEntry> run_course(int from, int to, const LessonOptions& options,
                                    const std::function<void(const Lesson&, std::size_t, std::size_t)>& before) {
  std::vector<const Lesson*> chosen;
  for (const Lesson& l : lessons())
    if (l.number >= from && l.number <= to) chosen.push_back(&l);
  std::vector<CourseEntry> out;
  for (std::size_t i = 0; i < chosen.size(); ++i) {
    const Lesson& l = *chosen[i];
    if (before) before(l, i, chosen.size());
    CourseEntry e;
    // Each lesson starts as it would in a process of its own: an earlier one's probes may have
    // left this thread, or OpenMP's pooled threads, pinned to one CPU.
    bench::unpin_all();
    run_one(l, e, [&] { return l.run(options); });
    if (l.uses_gpu && !bench::gpu_status().usable) e.gpu_note = "CPU half only: " + bench::gpu_status().reason;
    std::printf("\n");
    out.push_back(std::move(e));
  }
  return out;
}

std::vector<CourseEntry> recheck_course(const StoredRun& stored, int from, int to, std::vector<std::string>& left_out) {
  std::vector<CourseEntry> out;
  std::vector<int> not_kept;
  for (const Lesson& l : lessons()) {
    if (l.number < from || l.number > to) continue;
    if (l.recheck == nullptr) {
      not_kept.push_back(l.number);
      continue;
    }
    std::string missing;
    for (const char* section : l.needs)
      if (!stored.has_cpu_section(section)) missing += (missing.empty() ? "" : ", ") + std::string(section);
    if (!missing.empty()) {
      left_out.push_back(fmt::format("lesson {:02d}: the report has no {} section", l.number, missing));
      continue;
    }
    CourseEntry e;
    run_one(l, e, [&] { return l.recheck(stored); });
    std::printf("\n");
    out.push_back(std::move(e));
  }
  if (!not_kept.empty()) {
    std::string numbers;
    for (int n : not_kept) numbers += (numbers.empty() ? "" : ", ") + fmt::format("{:02d}", n);
    left_out.push_back(fmt::format("lessons {}: they measure what a report does not keep; run them on that machine",
                                   numbers));
  }
  return out;
}

namespace {
std::string headline(const LessonOutcome& o) {
  if (!o.has_headline) return "-";
  return fmt::format("{}: {} (textbook {}, {})", o.headline_claim, format_value(o.headline_measured, o.headline_unit),
                     format_value(o.headline_textbook, o.headline_unit), o.headline_source);
}
std::string duration(double seconds) {
  return seconds < 60 ? fmt::format("{:.0f} s", seconds) : fmt::format("{:.1f} min", seconds / 60);
}
std::string notes(const CourseEntry& e) {
  std::string n = e.error.empty() ? "" : "stopped: " + e.error;
  if (!e.gpu_note.empty()) n += (n.empty() ? "" : "; ") + e.gpu_note;
  if (!e.outcome.untested.empty())
    n += (n.empty() ? "" : "; ") + fmt::format("{} untested (the lesson says why)", e.outcome.untested.size());
  return n.empty() ? "-" : n;
}
}  // namespace

bench::Table course_table(const std::vector<CourseEntry>& entries) {
  using A = bench::Table::Align;
  bench::Table t({{"lesson", A::left}, {"checks"}, {"headline: measured (textbook)", A::left}, {"time"}, {"notes", A::left}});
  double total = 0;
  int passed = 0, failed = 0, untested = 0;
  for (const CourseEntry& e : entries) {
    const LessonOutcome& o = e.outcome;
    t.add_row({fmt::format("{:02d} {}", o.number, o.title),
               o.failed > 0 || !e.error.empty() ? fmt::format("{} passed, {} FAILED", o.passed, o.failed)
                                                : fmt::format("{} passed", o.passed),
               headline(o), duration(o.seconds), notes(e)});
    total += o.seconds, passed += o.passed, failed += o.failed, untested += int(o.untested.size());
  }
  t.add_row({"all",
              untested > 0 ? fmt::format("{} passed, {} failed, {} untested", passed, failed, untested)
                           : fmt::format("{} passed, {} failed", passed, failed),
              "", duration(total), ""});
  return t;
}

std::string course_markdown(const std::vector<CourseEntry>& entries, const std::string& heading) {
  std::string md = "# " + heading + "\n\n" + course_table(entries).markdown() + "\n";
  for (const CourseEntry& e : entries) {
    md += fmt::format("\n## Lesson {:02d}: {} ({})\n\n", e.outcome.number, e.outcome.title, duration(e.outcome.seconds));
    if (!e.gpu_note.empty()) md += e.gpu_note + "\n\n";
    if (!e.error.empty()) md += "Stopped: " + e.error + "\n\n";
    md += "```\n" + e.outcome.transcript + "```\n";
  }
  return md;
}

Json course_json(const std::vector<CourseEntry>& entries) {
  Json lessons_json = Json::array();
  for (const CourseEntry& e : entries) {
    const LessonOutcome& o = e.outcome;
    Json j{{"number", o.number}, {"title", o.title}, {"passed", o.passed}, {"failed", o.failed},
           {"untested", o.untested}, {"exit_code", e.exit_code}, {"seconds", o.seconds}};
    if (o.has_headline)
      j["headline"] = {{"claim", o.headline_claim}, {"source", o.headline_source}, {"unit", o.headline_unit},
                       {"textbook", o.headline_textbook},
                       {"measured", std::isfinite(o.headline_measured) ? Json(o.headline_measured) : Json(nullptr)}};
    if (!e.error.empty()) j["error"] = e.error;
    if (!e.gpu_note.empty()) j["gpu_note"] = e.gpu_note;
    lessons_json.push_back(j);
  }
  return {{"kind", "course"}, {"lessons", lessons_json}};
}

}  // namespace flopslab::lessons
