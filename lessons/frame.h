// The lesson frame. A lesson program measures a claim on this machine and prints, wherever a
// textbook figure exists, "textbook value (source, year) | measured here | ratio", then the
// checks it verified as PASS/FAIL lines and the takeaway. Lessons call the library for every
// kernel and timer; the frame only formats.
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

// The first element of a JSON array whose fields match every (key, value) pair, or null.
const Json* find_point(const Json& points, const std::vector<std::pair<std::string, Json>>& match);
// A number from such a point, NaN when the point or field is missing.
double point_value(const Json& points, const std::vector<std::pair<std::string, Json>>& match, const char* field);

// What a thread-scaling curve (the threads probe's JSON) says about cores the topology does not
// show. A hypervisor may present each core's two hardware threads as two cores: then FMA
// throughput grows linearly up to half of them and hardly at all beyond. Found when the topology
// shows no SMT, the loop on all "cores" stayed under 0.6x linear, and on half of them it reached
// 0.8x linear.
struct HiddenSmt {
  bool found = false;
  int cores = 0;           // the cores the curve shows (half the reported ones)
  double half_speedup = 0; // FMA speed-up on those cores
  double rest_gain = 0;    // what the other half of the threads added, relative (0.02: +2%)
  std::string finding;     // one paragraph for the lesson's text
};
HiddenSmt find_hidden_smt(const Json& threads_probe);

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

// A stored report (`flopslab report`'s report.json) whose measurements a lesson's checks can
// be run on again: the committed sample reports of other machines, or an earlier run here.
struct StoredRun {
  std::string path;  // the report directory
  Json report;       // its report.json
  // "Rechecked from DIR: measured on CPU (N cores) on DATE; nothing is measured now."
  std::string describe() const;
  bool has_cpu_section(const char* name) const;
  const Json& cpu_section(const char* name) const;  // sections.cpu.<name>; throws if missing
};

struct Lesson {
  int number;
  const char* directory;  // lessons/<directory>/README.md holds the text
  const char* title;
  int (*run)(const LessonOptions&);
  bool uses_gpu = false;  // has a GPU half, which runs only where a GPU is usable
  // The lesson's checks on a stored report's data; null where the lesson measures things a
  // report does not keep. Reads the CPU sections named in `needs`.
  int (*recheck)(const StoredRun&) = nullptr;
  std::vector<const char*> needs = {};
};

// The lessons written so far, in syllabus order.
std::span<const Lesson> lessons();
const Lesson* find_lesson(int number);

}  // namespace flopslab::lessons
