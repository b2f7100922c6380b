// progress.h: a progress bar for long stages: done/total, rate and ETA on stderr. On a terminal it
// redraws one line; otherwise (CI logs, pipes) it prints a line at most every few seconds.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace dv {

class Progress {
 public:
  Progress(std::string label, int64_t total, std::string unit, bool enabled = true);
  ~Progress();
  void advance(int64_t n) { update(done_ + n); }
  void update(int64_t done);
  void finish();
  double elapsed_seconds() const;
  double rate() const;  // units per second so far

 private:
  void draw(bool final_line);
  std::string label_, unit_;
  int64_t total_, done_ = 0;
  bool enabled_, tty_, finished_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace dv
