// interrupt.h: Ctrl-C and SIGTERM as a request to stop, for long loops (collect, train) that must stop
// at a clean point and keep what is done. While an InterruptGuard lives, the first SIGINT/SIGTERM only
// sets a flag that the loops poll between steps (interrupt_requested(), or check_interrupt() to unwind
// with dv::Interrupted, which lets AtomicFile destructors drop unfinished outputs); a second signal
// exits at once with status 130, for a user who does not want to wait for the step to finish.
//
// The one exception to the project's no-globals rule: a signal handler can reach nothing but a
// process-wide object, so the flag is one `volatile sig_atomic_t` inside interrupt.cpp, written only by
// the handler and the guard's constructor, and read through the functions below.
#pragma once

#include <signal.h>

#include <string>

#include "kernels/common/error.h"

namespace dv {

// Exit status for a run stopped by a signal (the shell's 128 + SIGINT).
constexpr int kInterruptExitCode = 130;

// Thrown by check_interrupt(): main() should report it and exit with kInterruptExitCode, not 2.
class Interrupted : public Error {
 public:
  explicit Interrupted(const std::string& message) : Error(message) {}
};

// Installs the SIGINT/SIGTERM handlers for its lifetime and restores the previous ones after; a SIGINT
// that was ignored when the guard was made (a background job) stays ignored, SIGTERM is always handled. Guards
// nest: an inner guard keeps a request that arrived under the outer one; an outermost guard starts
// with no request pending. Construct on the main thread, before starting worker threads.
class InterruptGuard {
 public:
  InterruptGuard();
  ~InterruptGuard();
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;

 private:
  struct sigaction previous_int_ {};
  struct sigaction previous_term_ {};
  bool handles_int_ = true;  // false when SIGINT was ignored at construction (then it stays ignored)
};

// True once SIGINT or SIGTERM arrived while a guard was installed.
bool interrupt_requested();
// The signal that requested the stop (SIGINT or SIGTERM), 0 when none.
int interrupt_signal();
// "SIGINT", "SIGTERM", or "a signal" for any other number: how messages name the stop request.
const char* signal_name(int sig);
// Throws dv::Interrupted("<what>: interrupted by SIGINT ...") when a stop was requested.
void check_interrupt(const std::string& what);

}  // namespace dv
