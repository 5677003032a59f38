// `flopslab course [--from N] [--to M] [--quick] [--threads N] [--out DIR] [--force]`.
#include "cli/command.h"
#include "lessons/lessons.h"

#include <cstdio>
#include <filesystem>
#include <memory>
#include <stdexcept>

#include <fmt/format.h>

#include "harness/files.h"
#include "harness/machine/machine.h"
#include "harness/progress.h"
#include "report/report.h"
#include "report/report_compare.h"
#include "cli/args.h"
#include "lessons/course.h"

namespace flopslab::cli {
namespace {

namespace fs = std::filesystem;

struct CourseArgs {
  std::string from, to, threads, out, recheck;
  bool quick = false, force = false, no_progress = false;
};

// --recheck DIR: the checks of lessons 01-04 on a stored report's measurements.
int recheck_command(const CourseArgs& a, int from, int to) {
  lessons::StoredRun stored{.path = a.recheck};
  try {
    stored.report = bench::read_report(a.recheck);
  } catch (const std::invalid_argument& e) {
    throw UsageError(fmt::format("course: --recheck {}: {}", a.recheck, e.what()));
  }
  if (!a.out.empty() && fs::exists(fs::path(a.out) / "course.md") && !a.force)
    throw UsageError("course: " + a.out + "/course.md already exists; pass --force to replace it or choose another --out");
  check_output_dir("course: --out", a.out);
  std::vector<std::string> left_out;
  const auto entries = lessons::recheck_course(stored, from, to, left_out);
  const std::string machine = stored.report["machine"]["cpu"].value("brand", std::string("?"));
  std::printf("Course rechecked from %s (%s): lessons %02d to %02d\n\n%s\n", a.recheck.c_str(), machine.c_str(), from,
              to, lessons::course_table(entries).text().c_str());
  for (const std::string& line : left_out) std::printf("Not rechecked: %s.\n", line.c_str());
  if (!a.out.empty()) {
    fs::create_directories(a.out);  // checked above; the report's directory may already hold a report
    bench::write_file_atomically(a.out + "/course.md",
                                 lessons::course_markdown(entries, "flopslab course, rechecked from " + a.recheck));
    Json json = lessons::course_json(entries);
    json["rechecked_from"] = a.recheck, json["machine"] = machine, json["not_rechecked"] = left_out;
    bench::write_file_atomically(a.out + "/course.json", json.dump(2) + "\n");
    std::printf("Wrote %s/course.md and %s/course.json.\n", a.out.c_str(), a.out.c_str());
  }
  for (const lessons::CourseEntry& e : entries)
    if (e.exit_code != 0) return 1;
  return 0;
}

int run_course_command(const CourseArgs& a) {
  const int first = lessons::lessons().front().number, last = lessons::lessons().back().number;
  auto lesson_number = [&](const char* option, const std::string& text, int fallback) {
    if (text.empty()) return fallback;
    const long long n = parse_integer(option, text, 0, 1 << 20);
    if (n < first || n > last)
      throw UsageError(fmt::format("course: {} {}: the lessons run from {} to {}", option, n, first, last));
    return int(n);
  };
  const int from = lesson_number("--from", a.from, first), to = lesson_number("--to", a.to, last);
  if (from > to) throw UsageError(fmt::format("course: --from {} comes after --to {}", from, to));
  if (!a.recheck.empty()) {
    if (a.quick || !a.threads.empty())
      throw UsageError("course: --recheck measures nothing, so --quick and --threads do not apply to it");
    return recheck_command(a, from, to);
  }
  lessons::LessonOptions options{.quick = a.quick};
  if (!a.threads.empty()) options.threads = int(parse_integer("--threads", a.threads, 1, kMaxThreads));
  const bench::MachineInfo machine = bench::describe_machine();
  const std::string out = a.out.empty() ? bench::default_course_dir(machine) : a.out;
  if (fs::exists(fs::path(out) / "course.md") && !a.force)
    throw UsageError("course: " + out + "/course.md already exists; pass --force to replace it or choose another --out");
  check_output_dir("course: --out", out);

  if (a.no_progress) bench::Progress::silence_all();  // the lessons' own progress too
  bench::Progress progress(!a.no_progress);
  const auto entries = lessons::run_course(from, to, options, [&](const lessons::Lesson& l, std::size_t i, std::size_t n) {
    progress(fmt::format("course: lesson {:02d} ({} of {}): {}", l.number, i + 1, n, l.title));
    progress.finish();  // the lesson's own progress takes the line from here
  });
  const bench::Table table = lessons::course_table(entries);
  std::printf("Course%s on %s: lessons %02d to %02d\n\n%s\n", a.quick ? " (quick)" : "", machine.cpu_brand.c_str(), from,
              to, table.text().c_str());
  fs::create_directories(out);  // checked before the lessons ran
  const std::string heading = fmt::format("flopslab course{}: {} ({})", a.quick ? " (quick)" : "", machine.cpu_brand,
                                          machine.date_utc);
  bench::write_file_atomically(out + "/course.md", lessons::course_markdown(entries, heading));
  Json json = lessons::course_json(entries);
  json["machine"] = machine.cpu_brand, json["date"] = machine.date_utc, json["quick"] = a.quick;
  bench::write_file_atomically(out + "/course.json", json.dump(2) + "\n");
  std::printf("Wrote %s/course.md and %s/course.json.\n", out.c_str(), out.c_str());
  for (const lessons::CourseEntry& e : entries)
    if (e.exit_code != 0) return 1;
  return 0;
}

}  // namespace

CLI::App* add_course_command(CLI::App& app, CommandRun& run) {
  auto a = std::make_shared<CourseArgs>();
  auto* sub = app.add_subcommand("course", "Run the lessons in order and end with one table: checks, headline figure "
                                           "against its textbook value, time; writes course.md and course.json");
  sub->add_option("--from", a->from, "First lesson  [1]")->type_name("N");
  sub->add_option("--to", a->to, "Last lesson  [the last written]")->type_name("M");
  add_quick_flag(*sub, a->quick, "Each lesson's quick mode (small sizes, short timing)");
  sub->add_option("--threads", a->threads, "Threads for the lessons' parallel parts  [physical cores]")->type_name("N");
  sub->add_option("--out", a->out, "Directory for course.md and course.json  [reports/<machine>-<date>]")->type_name("DIR");
  sub->add_option("--recheck", a->recheck,
                  "Run the checks of the lessons that can be rechecked (01-04) on the data of a stored report "
                  "directory, another machine's say; nothing is measured. Writes files only with --out")
      ->type_name("DIR");
  add_force_flag(*sub, a->force, "Replace course.md and course.json in --out if they exist");
  add_no_progress_flag(*sub, a->no_progress);
  run = [a](const std::string&) { return run_course_command(*a); };
  return sub;
}

}  // namespace flopslab::cli
