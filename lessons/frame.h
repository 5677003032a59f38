// The lesson frame. A lesson program measures a claim on this machine and prints, wherever a
// textbook figure exists, "textbook value (source, year) | measured here | ratio", then the
// checks it verified as PASS/FAIL lines and the takeaway. Lessons call the library for every
// kernel and timer; the frame only formats. Reading figures out of a report's JSON is in
// lessons/report_data.h, the list of lessons in lessons/lessons.h.
#pragma once

#include <functional>
#include <span>
#include <string>
#include <vector>

#include "harness/json.h"
#include "harness/progress.h"
#include "harness/table.h"
#include "nn/train.h"

namespace flopslab::lessons {

struct LessonOptions {
  bool quick = false;  // small sizes and short timing (the test suite's smoke run)
  int threads = 0;     // 0: every physical core
};
// The threads a lesson computes with: --threads, else every physical core.
int lesson_threads(const LessonOptions& options);

class LessonRun {
 public:
  LessonRun(int number, std::string title);

  void say(const std::string& text);       // narrative, printed as it comes
  void show(const bench::Table& table);    // a measured table, printed as it comes
  void progress(const std::string& step);  // a transient status line on stderr
  // The same, as a callback for the library's progress hooks.
  std::function<void(const std::string&)> progress_callback();
  // A training loop's step callback showing "WHAT: epoch E step S/N" every `every` steps.
  std::function<void(const nn::StepInfo&)> training_progress(std::string what, int every = 50);

  // A textbook figure next to the measured one; ratio = measured / textbook.
  void compare(std::string claim, double textbook, std::string source, double measured,
               std::string unit);
  // Records a verified statement; returns ok so callers can chain on it.
  bool check(bool ok, std::string statement);
  // A check whose claim needs `threads` CPUs of this machine at once (a scaling claim). `share`
  // is what bench::CpuShare::to_json recorded over the measurement. When the run did not have
  // the CPUs (a hypervisor's steal, another process), the claim was not put to the test: it is
  // listed as UNTESTED with the share, not as PASS or FAIL. Returns ok, or true when untested.
  bool check_with_cpus(const Json& share, int threads, bool ok, std::string statement);
  // A claim this run could not put to the test, with why: listed as UNTESTED.
  void untested(std::string statement, const std::string& why);

  // Prints the comparison table, the checks and the takeaway. Returns the exit code: 0 when
  // every check passed, 1 otherwise.
  int finish(const std::string& takeaway);

 private:
  struct Comparison {
    std::string claim, source, unit;
    double textbook, measured;
  };
  void emit(const std::string& text);  // to stdout, and to the outcome's transcript
  bench::Progress progress_;
  std::vector<Comparison> comparisons_;
  enum class Verdict { pass, fail, untested };
  std::vector<std::pair<Verdict, std::string>> checks_;
};

// A measured or textbook figure as the comparison table prints it: "%" as a percentage, "x"
// glued to the number, other units after a space, 2-3 significant digits; "n/a" when not finite.
std::string format_value(double v, const std::string& unit);

// What a finished lesson found, kept for `flopslab course`: its checks, its first
// textbook-vs-measured row (the headline), and everything it printed.
struct LessonOutcome {
  int number = 0;
  std::string title;
  int passed = 0, failed = 0;
  std::vector<std::string> untested;  // checks the run could not put to the test, with why
  std::string headline_claim, headline_source, headline_unit;
  double headline_textbook = 0, headline_measured = 0;
  bool has_headline = false;
  std::string transcript;
  double seconds = 0;
};
// The outcome of the lesson run that started last in this process (the course runs them in
// turn); a lesson that has not reached finish() has its transcript so far and no checks.
const LessonOutcome& last_lesson_outcome();

}  // namespace flopslab::lessons
