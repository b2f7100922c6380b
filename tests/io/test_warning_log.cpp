// test_warning_log.cpp: warn() keeps each warning in the innermost open WarningLog only (a stage's log inside
// the run's), with its code; nothing is kept with no log open; warnings.json round-trips and an empty list
// removes the file.
#include <filesystem>
#include <thread>

#include <gtest/gtest.h>
#include <unistd.h>

#include "engine/io/warning_log.h"

namespace dv {
namespace {

TEST(WarningLog, InnermostLogKeepsTheWarning) {
  warn("before any log");  // printed, kept nowhere
  const WarningLog run;
  warn("run level");
  {
    const WarningLog stage;
    warn("store looks untrained", "random_weights");
    std::thread([] { warn("from a writer thread"); }).join();
    ASSERT_EQ(stage.warnings().size(), 2u);
    EXPECT_EQ(stage.warnings()[0].code, "random_weights");
    EXPECT_EQ(stage.warnings()[0].text, "store looks untrained");
    EXPECT_EQ(stage.warnings()[1].text, "from a writer thread");
  }
  warn("after the stage");
  ASSERT_EQ(run.warnings().size(), 2u);
  EXPECT_EQ(run.warnings()[0].text, "run level");
  EXPECT_EQ(run.warnings()[1].text, "after the stage");
}

TEST(WarningLog, WarningsFileRoundTrips) {
  const std::string dir = testing::TempDir() + "/warning_log_" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  EXPECT_TRUE(read_warnings(dir).empty());
  write_warnings(dir, {{"random_weights", "a \"quoted\" line"}, {"", "plain"}});
  const std::vector<Warning> back = read_warnings(dir);
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[0].code, "random_weights");
  EXPECT_EQ(back[0].text, "a \"quoted\" line");
  EXPECT_EQ(back[1].text, "plain");
  write_warnings(dir, {});
  EXPECT_FALSE(std::filesystem::exists(dir + "/" + kWarningsFileName));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace dv
