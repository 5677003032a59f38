// `flopslab course`: the lessons in syllabus order, one after another in this process, each
// kept as a section (what it printed, its checks, its time), and one table at the end.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "harness/json.h"
#include "harness/table.h"
#include "lessons/frame.h"
#include "lessons/lessons.h"
#include "lessons/report_data.h"

namespace flopslab::lessons {

struct CourseEntry {
  LessonOutcome outcome;
  int exit_code = 0;
  std::string error;     // what the lesson threw, if it did not finish
  std::string gpu_note;  // "CPU half only: <why>" for a lesson with a GPU half and no GPU
};

// Lessons from..to (numbers, both included), each run with `options`. `before` is called with
// each lesson before it starts (for progress).
std::vector<CourseEntry> run_course(int from, int to, const LessonOptions& options,
                                    const std::function<void(const Lesson&, std::size_t index, std::size_t count)>& before = {});

// The checks of lessons from..to that can be rechecked (Lesson::recheck), on a stored report's
// data, in order. `left_out` receives one line per lesson in the range that was not rechecked,
// with why (it measures what a report does not keep, or the report lacks its sections).
std::vector<CourseEntry> recheck_course(const StoredRun& stored, int from, int to, std::vector<std::string>& left_out);

// Lesson, checks passed / failed, the headline measured figure against its textbook figure,
// time, and notes.
bench::Table course_table(const std::vector<CourseEntry>& entries);
// course.md: the table, then one section per lesson with its time and its transcript.
std::string course_markdown(const std::vector<CourseEntry>& entries, const std::string& heading);
Json course_json(const std::vector<CourseEntry>& entries);

}  // namespace flopslab::lessons
