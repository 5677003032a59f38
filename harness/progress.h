// Progress for long runs, on stderr so stdout stays clean for tables and pipes. On a terminal
// one line is rewritten in place; otherwise (CI logs, files) each step gets its own line.
#pragma once

#include <chrono>
#include <string>

namespace flopslab::bench {

class Progress {
 public:
  explicit Progress(bool enabled = true);
  ~Progress();
  void operator()(const std::string& line);  // the step starting now
  void finish();                              // clears the in-place line
  // Silences every Progress made from now on: a command's --no-progress reaching the lessons
  // and library calls it runs, which make their own.
  static void silence_all();

 private:
  static bool silenced_;
  bool enabled_, tty_, open_line_ = false;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace flopslab::bench
