// `flopslab lesson N [--quick] [--threads N]` and `flopslab lesson --list`: one lesson of the syllabus.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "cli/args.h"
#include "cli/command.h"
#include "lessons/frame.h"
#include "lessons/lessons.h"

namespace flopslab::cli {
namespace {

std::string lesson_list() {
  std::string s;
  for (const lessons::Lesson& l : lessons::lessons())
    s += fmt::format("{}{:02d} ({})", s.empty() ? "" : ", ", l.number, l.title);
  return s;
}

int run_lesson(const std::string& number, bool list, bool quick, const std::string& threads) {
  if (list) {
    for (const lessons::Lesson& l : lessons::lessons())
      std::printf("%02d  %-28s lessons/%s/README.md\n", l.number, l.title, l.directory);
    return 0;
  }
  if (number.empty()) throw UsageError("lesson: which lesson? available: " + lesson_list());
  const int n = static_cast<int>(parse_integer("lesson", number, 1, 99));
  const lessons::Lesson* lesson = lessons::find_lesson(n);
  if (lesson == nullptr)
    throw UsageError(fmt::format("lesson: lesson {} is not written yet; available: {}", n, lesson_list()));
  lessons::LessonOptions o{.quick = quick};
  if (!threads.empty()) o.threads = static_cast<int>(parse_integer("--threads", threads, 1, kMaxThreads));
  return lesson->run(o);
}

struct LessonArgs {
  std::string number, threads;
  bool list = false, quick = false;
};

}  // namespace

CLI::App* add_lesson_command(CLI::App& app, CommandRun& run) {
  auto a = std::make_shared<LessonArgs>();
  auto* sub = app.add_subcommand("lesson", "Run lesson N of the syllabus: measure its claim here and check it");
  sub->add_option("N", a->number, "Lesson number (see --list)");
  sub->add_flag("--list", a->list, "List the lessons written so far");
  add_quick_flag(*sub, a->quick, "Small sizes and short timing");
  sub->add_option("--threads", a->threads, "Threads for the parallel parts  [physical cores]")->type_name("N");
  run = [a](const std::string&) { return run_lesson(a->number, a->list, a->quick, a->threads); };
  return sub;
}

}  // namespace flopslab::cli
