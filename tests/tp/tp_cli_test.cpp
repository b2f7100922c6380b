// tp_cli_test.cpp: `dejavu bench --tp N` with more ranks than this machine has GPUs exits 2 with one clear
// line, at once (no rank is started, nothing waits for a peer). Runs with or without a GPU.
#include <cstdio>
#include <cstdlib>
#include <string>

#include <cuda_runtime.h>
#include <gtest/gtest.h>

namespace {

TEST(TpCli, MoreRanksThanGpusExitsTwo) {
  const char* bin = std::getenv("DEJAVU_BIN");
  if (bin == nullptr) GTEST_SKIP() << "DEJAVU_BIN is not set (ctest sets it)";
  int gpus = 0;
  if (cudaGetDeviceCount(&gpus) != cudaSuccess) gpus = 0;
  const int tp = std::max(2, gpus + 1);
  const std::string cmd = "timeout 120 " + std::string(bin) + " bench --tp " + std::to_string(tp) +
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
