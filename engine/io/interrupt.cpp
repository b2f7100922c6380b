// interrupt.cpp: the SIGINT/SIGTERM handler and its flag. The handler does only async-signal-safe
// things: it reads and writes one volatile sig_atomic_t, calls write(2), and on the second signal _exit(2)s
// (no destructors run then: unfinished outputs stay under their temporary names, never the final ones).
#include "engine/io/interrupt.h"

#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>

namespace dv {
namespace {

// The signal number of the pending stop request, 0 when none. See interrupt.h for why it is global.
volatile std::sig_atomic_t g_interrupt_signal = 0;

extern "C" void on_interrupt_signal(int sig) {
  if (g_interrupt_signal != 0) _exit(kInterruptExitCode);
  g_interrupt_signal = sig;
  static const char kMessage[] = "\ninterrupted: stopping after the current step (signal again to quit now)\n";
  const int saved_errno = errno;  // write() may change errno under the interrupted code's feet
  [[maybe_unused]] const ssize_t n = ::write(STDERR_FILENO, kMessage, sizeof(kMessage) - 1);
  errno = saved_errno;
}

void install(int sig, struct sigaction* previous) {
  struct sigaction action {};
  action.sa_handler = on_interrupt_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;  // blocking reads and writes resume; loops see the flag at their next poll
  DV_CHECK(::sigaction(sig, &action, previous) == 0, "cannot install the {} handler: {}",
           signal_name(sig), std::strerror(errno));
}

}  // namespace

InterruptGuard::InterruptGuard() {
  struct sigaction current_int {}, current_term {};
  ::sigaction(SIGINT, nullptr, &current_int);
  ::sigaction(SIGTERM, nullptr, &current_term);
  // Outermost guard: a request left over from an earlier guard must not stop this run.
  if (current_int.sa_handler != on_interrupt_signal && current_term.sa_handler != on_interrupt_signal)
    g_interrupt_signal = 0;
  // A SIGINT ignored at start (a job started with `&` by a non-interactive shell) stays ignored, as POSIX
  // asks: the terminal's Ctrl-C is meant for the foreground job. SIGTERM (kill, a batch system) still
  // stops such a job cleanly, so it is always handled.
  handles_int_ = current_int.sa_handler != SIG_IGN;
  install(SIGTERM, &previous_term_);
  if (!handles_int_) return;
  try {
    install(SIGINT, &previous_int_);
  } catch (...) {
    ::sigaction(SIGTERM, &previous_term_, nullptr);
    throw;
  }
}

InterruptGuard::~InterruptGuard() {
  if (handles_int_) ::sigaction(SIGINT, &previous_int_, nullptr);
  ::sigaction(SIGTERM, &previous_term_, nullptr);
}

const char* signal_name(int sig) { return sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "a signal"; }

bool interrupt_requested() { return g_interrupt_signal != 0; }

int interrupt_signal() { return g_interrupt_signal; }

void check_interrupt(const std::string& what) {
  const int sig = g_interrupt_signal;
  if (sig == 0) return;
  throw Interrupted(fmt::format("{}: interrupted by {}; completed work is kept, re-run to resume", what,
                                signal_name(sig)));
}

}  // namespace dv
