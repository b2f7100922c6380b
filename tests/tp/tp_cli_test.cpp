// tp_cli_test.cpp: `dejavu bench --tp N` with more ranks than this machine has GPUs exits 2 with one clear
// line, at once (no rank is started, nothing waits for a peer). Runs with or without a GPU.
#include <cstdio>
#include <cstdlib>
#include <string>

#include <unistd.h>

#include <algorithm>

#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include "tests/common/missing_dependency.h"

namespace {

TEST(TpCli, MoreRanksThanGpusExitsTwo) {
  // DEJAVU_BIN, else the build tree's dejavu next to tests/tp/ (this binary is <build>/tests/tp/tp_engine_tests).
  std::string bin = std::getenv("DEJAVU_BIN") != nullptr ? std::getenv("DEJAVU_BIN") : "";
  if (bin.empty()) {
    char self[4096];
    const ssize_t n = ::readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n > 0) {
      std::string dir(self, static_cast<size_t>(n));
      for (int up = 0; up < 3 && dir.rfind('/') != std::string::npos; ++up) dir.erase(dir.rfind('/'));
      bin = dir + "/dejavu";
    }
  }
  if (::access(bin.c_str(), X_OK) != 0) DV_MISSING_DEPENDENCY("no dejavu executable at '" << bin << "'");
  int gpus = 0;
  if (cudaGetDeviceCount(&gpus) != cudaSuccess) gpus = 0;
  const int tp = std::max(2, gpus + 1);
  const std::string cmd = "timeout 120 " + bin + " bench --tp " + std::to_string(tp) +
                          " --shapes opt-125m --out /tmp/dv_tp_cli_test 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[512];
  while (std::fgets(buf, sizeof(buf), p) != nullptr) out += buf;
  const int status = ::pclose(p);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 2) << out;  // 124 would be the timeout: a hang
  EXPECT_NE(out.find("this machine has " + std::to_string(gpus) + " CUDA GPU(s)"), std::string::npos) << out;
}

}  // namespace
