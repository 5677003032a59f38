// How the classroom race is shown: full screen on a terminal (large numbers, one bar per
// contestant, redrawn in place with ANSI sequences, colour unless NO_COLOR is set), or plain
// progress lines when stdout is not a terminal (logs, tests). Both end with the same summary.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "demo/demo.h"

namespace flopslab::bench {

class RaceDisplay {
 public:
  // full_screen: the terminal display; else plain lines. colour is ignored in plain mode.
  RaceDisplay(bool full_screen, bool colour);
  ~RaceDisplay();  // restores the terminal (cursor shown) if a frame was drawn
  void frame(const Scene& scene, const std::vector<std::unique_ptr<Lane>>& lanes, double elapsed);
  void restore();  // leaves full-screen mode; safe to call twice
  int frames() const { return frames_; }

 private:
  bool full_screen_, colour_, drawn_ = false;
  int frames_ = 0;
  std::vector<double> last_plain_line_;  // per lane: when its last plain line was printed
  std::vector<double> best_rate_;        // per lane: the highest rate shown, for the bars' scale
};

// The table, the checks, the winner and the textbook comparison.
std::string race_summary(const RaceResult& result);

}  // namespace flopslab::bench
