// test_interrupt.cpp: InterruptGuard turns the first SIGINT/SIGTERM into a polled request, a second
// signal into exit status 130, and restores the previous handlers when it goes.
#include <signal.h>

#include <gtest/gtest.h>

#include "engine/io/interrupt.h"

namespace dv {
namespace {

// A background job of a shell without job control starts with SIGINT ignored, and InterruptGuard rightly leaves an
// ignored SIGINT alone (tested below); these tests are about the guard, so they start from the default disposition
// whatever launched them (session 13's sanitizer stage, run from such a job, failed three of them).
const bool kSigintAtDefault = [] { return ::signal(SIGINT, SIG_DFL) != SIG_ERR; }();

volatile sig_atomic_t g_custom_hits = 0;
extern "C" void custom_handler(int) { g_custom_hits = g_custom_hits + 1; }

TEST(Interrupt, FirstSignalSetsTheFlagOnly) {
  for (int sig : {SIGINT, SIGTERM}) {
    InterruptGuard guard;
    EXPECT_FALSE(interrupt_requested());
    EXPECT_NO_THROW(check_interrupt("collect"));
    ASSERT_EQ(::raise(sig), 0);
    EXPECT_TRUE(interrupt_requested());
    EXPECT_EQ(interrupt_signal(), sig);
    try {
      check_interrupt("collect layer 3");
      FAIL() << "check_interrupt did not throw";
    } catch (const Interrupted& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("collect layer 3"), std::string::npos) << what;
      EXPECT_NE(what.find(sig == SIGINT ? "SIGINT" : "SIGTERM"), std::string::npos) << what;
    }
  }
}

TEST(Interrupt, NewOutermostGuardStartsClean) {
  {
    InterruptGuard guard;
    ::raise(SIGINT);
    EXPECT_TRUE(interrupt_requested());
  }
  InterruptGuard again;
  EXPECT_FALSE(interrupt_requested());
}

TEST(Interrupt, NestedGuardKeepsPendingRequest) {
  InterruptGuard outer;
  ::raise(SIGTERM);
  {
    InterruptGuard inner;
    EXPECT_TRUE(interrupt_requested());
    EXPECT_EQ(interrupt_signal(), SIGTERM);
  }
  EXPECT_TRUE(interrupt_requested());
}

TEST(Interrupt, RestoresPreviousHandlers) {
  struct sigaction custom {}, old_int {}, old_term {};
  custom.sa_handler = custom_handler;
  sigemptyset(&custom.sa_mask);
  ASSERT_EQ(::sigaction(SIGINT, &custom, &old_int), 0);
  ASSERT_EQ(::sigaction(SIGTERM, &custom, &old_term), 0);
  { InterruptGuard guard; }
  g_custom_hits = 0;
  ::raise(SIGINT);
  ::raise(SIGTERM);
  EXPECT_EQ(g_custom_hits, 2);
  ::sigaction(SIGINT, &old_int, nullptr);
  ::sigaction(SIGTERM, &old_term, nullptr);
}

// A background job (`cmd &` from a script) starts with SIGINT ignored: the terminal's Ctrl-C stays
// ignored, SIGTERM still stops it cleanly, and the ignore is still in place after the guard.
TEST(Interrupt, IgnoredSigintStaysIgnoredAndSigtermStillStops) {
  struct sigaction ignore {}, old_int {}, after {};
  ignore.sa_handler = SIG_IGN;
  sigemptyset(&ignore.sa_mask);
  ASSERT_EQ(::sigaction(SIGINT, &ignore, &old_int), 0);
  {
    InterruptGuard guard;
    ::raise(SIGINT);
    EXPECT_FALSE(interrupt_requested());
    ::raise(SIGTERM);
    EXPECT_TRUE(interrupt_requested());
    EXPECT_EQ(interrupt_signal(), SIGTERM);
  }
  ASSERT_EQ(::sigaction(SIGINT, nullptr, &after), 0);
  EXPECT_EQ(after.sa_handler, SIG_IGN);
  ::sigaction(SIGINT, &old_int, nullptr);
}

TEST(InterruptDeathTest, SecondSignalExitsWith130) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        InterruptGuard guard;
        ::raise(SIGINT);
        ::raise(SIGTERM);
        std::exit(0);  // not reached: the second signal exits first
      },
      ::testing::ExitedWithCode(kInterruptExitCode), "interrupted");
}

}  // namespace
}  // namespace dv
