// Drawing the race on a terminal: large numbers and one bar per contestant.
#include "demo/demo_display.h"

#include <algorithm>
#include <cstdio>

#include <fmt/format.h>

#include "harness/table.h"

namespace flopslab::bench {
namespace {

std::string human(double x) {
  return x >= 100 ? fmt::format("{:.0f}", x) : x >= 10 ? fmt::format("{:.1f}", x) : fmt::format("{:.2f}", x);
}

}  // namespace

RaceDisplay::RaceDisplay(bool full_screen, bool colour) : full_screen_(full_screen), colour_(colour) {}

RaceDisplay::~RaceDisplay() { restore(); }

void RaceDisplay::restore() {
  if (full_screen_ && drawn_) {
    std::fputs("\x1b[?25h\n", stdout);  // the cursor back
    std::fflush(stdout);
    drawn_ = false;
  }
}

void RaceDisplay::frame(const Scene& s, const std::vector<std::unique_ptr<Lane>>& lanes, double elapsed) {
  ++frames_;
  last_plain_line_.resize(lanes.size(), -1e9);
  best_rate_.resize(lanes.size(), 0);
  if (!full_screen_) {
    // One line a second for the racing contestant, and one when it finishes.
    for (std::size_t i = 0; i < lanes.size(); ++i) {
      const Lane& l = *lanes[i];
      const bool racing = l.started.load() >= 0 && l.finished.load() < 0;
      const bool just_done = l.finished.load() >= 0 && last_plain_line_[i] < l.finished.load();
      if ((racing && elapsed - last_plain_line_[i] >= 1.0) || just_done) {
        std::printf("[%6.1fs] %s: %lld calls, %s %s%s\n", elapsed, s.contestants[i].name.c_str(),
                    static_cast<long long>(l.calls.load()), human(live_lane_rate(s, i, l, elapsed)).c_str(), s.unit.c_str(),
                    just_done ? " (heat over)" : "");
        last_plain_line_[i] = just_done ? l.finished.load() + 1e9 : elapsed;
      }
    }
    std::fflush(stdout);
    return;
  }
  const char* bold = colour_ ? "\x1b[1m" : "";
  const char* green = colour_ ? "\x1b[32m" : "";
  const char* dim = colour_ ? "\x1b[2m" : "";
  const char* reset = colour_ ? "\x1b[0m" : "";
  std::string out = "\x1b[?25l\x1b[H\x1b[2J";  // hide the cursor, home, clear
  out += fmt::format("{}flopslab demo: {}{}   {}{:.1f} s\n\n", bold, s.title, reset,
                     s.lesson.empty() ? std::string() : fmt::format("(lesson {})   ", s.lesson), elapsed);
  double scale = 0;
  for (std::size_t i = 0; i < lanes.size(); ++i) {
    best_rate_[i] = std::max(best_rate_[i], live_lane_rate(s, i, *lanes[i], elapsed));
    scale = std::max(scale, best_rate_[i]);
  }
  constexpr int kWidth = 50;
  for (std::size_t i = 0; i < lanes.size(); ++i) {
    const Contestant& c = s.contestants[i];
    const Lane& l = *lanes[i];
    out += fmt::format("  {}{:<34}{}", bold, c.name.substr(0, 34), reset);
    if (!c.absent.empty()) {
      out += fmt::format("{}absent: {}{}\n\n", dim, c.absent.substr(0, 70), reset);
      continue;
    }
    const double rate = live_lane_rate(s, i, l, elapsed);
    const int filled = scale > 0 ? int(kWidth * rate / scale + 0.5) : 0;
    std::string bar;
    for (int k = 0; k < kWidth; ++k) bar += k < filled ? "\u2588" : " ";
    const char* state = l.started.load() < 0 ? "waiting" : l.finished.load() < 0 ? "racing" : "done";
    out += fmt::format("{}{}{} {}{:>9} {}{}  {}\n\n", green, bar, reset, bold, human(rate), s.unit, reset, state);
  }
  std::fputs(out.c_str(), stdout);
  std::fflush(stdout);
  drawn_ = true;
}

std::string race_summary(const RaceResult& r) {
  using A = Table::Align;
  Table t({{"contestant", A::left}, {"calls"}, {"seconds"}, {r.unit}, {fmt::format("live {}", r.unit)}, {"check", A::left}});
  for (const LaneResult& l : r.lanes) {
    if (!l.absent.empty()) {
      t.add_row({l.name, "-", "-", "-", "-", fmt::format("absent: {}", l.absent)});
      continue;
    }
    t.add_row({l.name, std::to_string(l.calls), fmt::format("{:.2f}", l.seconds), human(l.rate), human(l.live_rate),
               l.check.empty() ? std::string("ok") : fmt::format("FAILED: {}", l.check)});
  }
  std::string out = fmt::format("\n{}\n", t.text());
  if (r.interrupted) return out + "Interrupted: the race stopped early; the heats above are what ran, no winner is named.\n";
  if (!r.all_checked()) out += "A contestant's result was wrong: no winner is named.\n";
  else if (r.winner >= 0 && r.raced() == 1)
    out += fmt::format("Only {} raced ({} {}); the others are absent.\n", r.lanes[std::size_t(r.winner)].name,
                       human(r.lanes[std::size_t(r.winner)].rate), r.unit);
  else if (r.winner >= 0)
    out += fmt::format("Winner: {} at {} {}, {:.1f}x the slowest contestant.\n", r.lanes[std::size_t(r.winner)].name,
                       human(r.lanes[std::size_t(r.winner)].rate), r.unit, r.speedup);
  if (r.textbook_speedup > 0 && r.measured_textbook_pair > 0)
    out += fmt::format("Textbook (lesson {}): {} should be {:.1f}x ({}); measured {:.1f}x ({:.0f}%).\n", r.lesson,
                       r.textbook_pair, r.textbook_speedup, r.textbook_source, r.measured_textbook_pair,
                       100 * r.measured_textbook_pair / r.textbook_speedup);
  else if (!r.lesson.empty())
    out += fmt::format("Lesson {} explains this scene; it has no textbook figure to compare with here.\n", r.lesson);
  return out;
}

}  // namespace flopslab::bench
