// The list of lessons in syllabus order: each one's number, directory, title, its program and,
// where it has one, its recheck on a stored report. Defined in lessons/lessons.cpp.
#pragma once

#include <span>
#include <vector>

#include "lessons/frame.h"
#include "lessons/report_data.h"

namespace flopslab::lessons {

// The lessons written so far, in syllabus order.
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

std::span<const Lesson> lessons();
const Lesson* find_lesson(int number);

}  // namespace flopslab::lessons
