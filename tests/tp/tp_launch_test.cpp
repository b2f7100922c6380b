// tp_launch_test.cpp: the `--tp N` launcher with /bin/sh as the rank command: every rank sees its variables,
// a failing rank stops the others at once (no hang) and is named, a timeout stops everyone.
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "engine/io/atomic_file.h"
#include "engine/tp/tp_launch.h"
#include "kernels/common/error.h"

namespace dv {
namespace {

std::string temp_dir(const std::string& name) {
  // atomic_file.h's helpers, not std::filesystem (LibTorch's copy of its symbols is not ABI-safe here).
  const std::string p = "/tmp/dv_tp_launch_" + name + std::to_string(::getpid());
  remove_tree(p);
  make_dirs(p);
  return p;
}

TEST(TpLaunch, EveryRankGetsItsEnvironment) {
  const std::string dir = temp_dir("env");
  RankLaunch l;
  l.argv = {"/bin/sh", "-c", "echo $RANK $LOCAL_RANK $WORLD_SIZE $DEJAVU_NCCL_ID_FILE $NCCL_NVLS_ENABLE > " + dir +
                                 "/rank$RANK"};
  l.world = 3;
  l.id_file = dir + "/id";
  launch_ranks(l);
  for (int r = 0; r < 3; ++r) {
    std::ifstream in(dir + "/rank" + std::to_string(r));
    std::string line;
    std::getline(in, line);
    const std::string want = std::to_string(r) + " " + std::to_string(r) + " 3 " + dir + "/id " +
                             (std::getenv("NCCL_NVLS_ENABLE") ? std::getenv("NCCL_NVLS_ENABLE") : "0");
    EXPECT_EQ(line, want) << "rank " << r;
  }
  remove_tree(dir);
}

TEST(TpLaunch, AFailingRankStopsTheOthers) {
  RankLaunch l;
  // Rank 1 fails at once; ranks 0 and 2 would wait a minute (a peer waiting for a dead rank).
  l.argv = {"/bin/sh", "-c", "if [ \"$RANK\" = 1 ]; then exit 3; fi; exec sleep 60"};
  l.world = 3;
  const auto start = std::chrono::steady_clock::now();
  try {
    launch_ranks(l);
    FAIL() << "a failing rank must fail the launch";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("rank 1 of 3 exited with status 3"), std::string::npos) << e.what();
  }
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 30.0);
}

TEST(TpLaunch, TheTimeoutStopsEveryone) {
  RankLaunch l;
  l.argv = {"/bin/sh", "-c", "exec sleep 60"};
  l.world = 2;
  l.timeout_s = 0.5;
  EXPECT_THROW(launch_ranks(l), Error);
}

TEST(TpLaunch, OwnCommandLineNamesThisExecutable) {
  const std::vector<std::string> argv = own_command_line();
  ASSERT_FALSE(argv.empty());
  EXPECT_EQ(::access(argv[0].c_str(), X_OK), 0) << argv[0];
}

}  // namespace
}  // namespace dv
