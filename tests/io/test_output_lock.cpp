// test_output_lock.cpp: one writer per output. A second lock on a held output fails naming the holder's pid
// and command; a lock whose holder was killed is taken over; a released lock leaves no lock file.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "engine/io/output_lock.h"
#include "kernels/common/error.h"

namespace dv {
namespace {

namespace fs = std::filesystem;

std::string temp_output(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("dv_lock_test_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return (dir / name).string();
}

std::string read_all(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

TEST(OutputLock, SecondWriterFailsNamingTheHolder) {
  const std::string out = temp_output("acts.h5");
  const OutputLock first(out);
  EXPECT_EQ(first.lock_path(), out + ".lock");
  try {
    const OutputLock second(out);
    FAIL() << "a second lock on a held output succeeded";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("pid " + std::to_string(::getpid())), std::string::npos) << what;
    EXPECT_NE(what.find(current_command_line()), std::string::npos) << what;
    EXPECT_NE(what.find(out), std::string::npos) << what;
  }
}

TEST(OutputLock, ReleaseRemovesTheLockFileAndFreesTheOutput) {
  const std::string out = temp_output("train");
  { const OutputLock lock(out); }
  EXPECT_FALSE(fs::exists(out + ".lock"));
  const OutputLock again(out);
  EXPECT_TRUE(fs::exists(out + ".lock"));
}

TEST(OutputLock, LockOfAKilledHolderIsTakenOver) {
  const std::string out = temp_output("eval");
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    try {
      const OutputLock lock(out);
      const char ok = 1;
      [[maybe_unused]] ssize_t n = ::write(ready[1], &ok, 1);
      for (;;) ::pause();  // killed by the parent, lock held
    } catch (...) {
      ::_exit(3);
    }
  }
  char ok = 0;
  ASSERT_EQ(::read(ready[0], &ok, 1), 1);
  EXPECT_THROW({ const OutputLock busy(out); }, Error);
  try {
    const OutputLock busy(out);
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("pid " + std::to_string(child)), std::string::npos) << e.what();
  }
  ASSERT_EQ(::kill(child, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(fs::exists(out + ".lock")) << "a killed holder's lock file stays behind";
  const OutputLock taken(out);
  EXPECT_EQ(read_all(out + ".lock").rfind("pid " + std::to_string(::getpid()) + "\n", 0), 0u);
  ::close(ready[0]);
  ::close(ready[1]);
}

}  // namespace
}  // namespace dv
