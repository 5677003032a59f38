// The progress line on stderr: redrawn on a terminal, one line per step otherwise.
#include "harness/progress.h"

#include <unistd.h>

#include <cstdio>

namespace flopslab::bench {

bool Progress::silenced_ = false;

void Progress::silence_all() { silenced_ = true; }

Progress::Progress(bool enabled)
    : enabled_(enabled && !silenced_), tty_(isatty(STDERR_FILENO) == 1), start_(std::chrono::steady_clock::now()) {}

Progress::~Progress() { finish(); }

void Progress::operator()(const std::string& line) {
  if (!enabled_) return;
  const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  if (tty_) {
    std::fprintf(stderr, "\r\033[K[%6.1fs] %s", t, line.c_str());
    open_line_ = true;
  } else {
    std::fprintf(stderr, "[%6.1fs] %s\n", t, line.c_str());
  }
  std::fflush(stderr);
}

void Progress::finish() {
  if (open_line_) std::fprintf(stderr, "\r\033[K");
  open_line_ = false;
}

}  // namespace flopslab::bench
