// stop_signal.cpp: the one-shot SIGINT/SIGTERM handlers behind StopOnSignal.
#include "pipeline/predictors/stop_signal.h"

#include <atomic>

#include "kernels/common/error.h"

namespace dv {

namespace {
volatile std::sig_atomic_t g_stop_signal = 0;  // written only by the handler
std::atomic<bool> g_installed{false};

extern "C" void on_stop_signal(int sig) { g_stop_signal = sig; }
}  // namespace

StopOnSignal::StopOnSignal() {
  DV_CHECK(!g_installed.exchange(true), "StopOnSignal: another instance is already installed");
  g_stop_signal = 0;
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESETHAND;
  sigaction(SIGINT, &sa, &old_int_);
  sigaction(SIGTERM, &sa, &old_term_);
}

StopOnSignal::~StopOnSignal() {
  sigaction(SIGINT, &old_int_, nullptr);
  sigaction(SIGTERM, &old_term_, nullptr);
  g_installed = false;
}

bool StopOnSignal::requested() const { return g_stop_signal != 0; }

int StopOnSignal::signal_number() const { return static_cast<int>(g_stop_signal); }

}  // namespace dv
