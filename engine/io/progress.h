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
  // Starts from work an earlier run did: it counts as done, not in the rate (nor so in the ETA).
  void resume_from(int64_t done);
  // Final line, as far as it got (an interrupted run stops here).
  void finish();
  // Final line of work that is complete: the total becomes what was done, since a total given up front may
  // be an estimate (collect's rows before the corpus is tokenized), so the bar ends at 100%.
  void complete();
  double elapsed_seconds() const;
  double rate() const;  // units per second so far, of this run's work only
  int64_t total() const { return total_; }
  int64_t done() const { return done_; }

 private:
  void draw(bool final_line);
  std::string label_, unit_;
  int64_t total_, done_ = 0, resumed_ = 0;
  bool enabled_, tty_, finished_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace dv
