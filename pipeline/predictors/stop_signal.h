// stop_signal.h: SIGINT / SIGTERM as a polled stop request, so that a long stage can end at a
// clean point (finished layers kept, outputs consistent) instead of dying mid-write. A handler can
// only reach static storage, so the flag is the one process-wide variable here; at most one
// StopOnSignal may be alive at a time. The handlers are one-shot (SA_RESETHAND): a second Ctrl-C
// gets the default action and kills the process at once.
#pragma once

#include <csignal>

namespace dv {

class StopOnSignal {
 public:
  StopOnSignal();   // installs the handlers; dv::Error if another StopOnSignal is alive
  ~StopOnSignal();  // restores the previous handlers
  StopOnSignal(const StopOnSignal&) = delete;
  StopOnSignal& operator=(const StopOnSignal&) = delete;

  bool requested() const;
  int signal_number() const;  // the signal that asked to stop, 0 when none

 private:
  struct sigaction old_int_ {};
  struct sigaction old_term_ {};
};

}  // namespace dv
