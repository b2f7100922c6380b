// test_progress.cpp: the progress bar's totals: complete() ends an estimated total at what was done
// (100%), finish() of an interrupted run keeps the total, and work resumed from an earlier run counts as
// done but not in the rate.
#include <chrono>
#include <thread>

#include <gtest/gtest.h>

#include "engine/io/progress.h"

namespace dv {
namespace {

TEST(Progress, CompleteEndsAnOverestimatedTotalAtWhatWasDone) {
  Progress bar("collect", 1000, "rows", /*enabled=*/false);
  bar.update(937);
  bar.complete();
  EXPECT_EQ(bar.total(), 937);
  EXPECT_EQ(bar.done(), 937);
}

TEST(Progress, FinishOfAStoppedRunKeepsTheTotal) {
  Progress bar("train", 12, "layers", /*enabled=*/false);
  bar.advance(5);
  bar.finish();
  EXPECT_EQ(bar.total(), 12);
  EXPECT_EQ(bar.done(), 5);
}

TEST(Progress, RateCountsOnlyThisRunsWork) {
  Progress bar("collect", 1000, "rows", /*enabled=*/false);
  bar.resume_from(900);
  EXPECT_EQ(bar.done(), 900);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  bar.update(950);
  // rate() reads the clock between these two reads: 50 new rows over that time, not 950.
  const double before = bar.elapsed_seconds();
  const double rate = bar.rate();
  const double after = bar.elapsed_seconds();
  EXPECT_LE(rate, 50 / before);
  EXPECT_GE(rate, 50 / after);
}

}  // namespace
}  // namespace dv
