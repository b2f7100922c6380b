// nccl_comm_test.cpp: the communicator at world size 1 through the same code path as N ranks (environment,
// id file, init, in-place fp16 all-reduce on a stream): the sum over one rank leaves the tensor unchanged.
// Bad environments and a missing rank 0 fail with one message instead of hanging.
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <random>
#include <unistd.h>
#include <vector>

#include <cuda_fp16.h>
#include <gtest/gtest.h>

#include "engine/tp/nccl_comm.h"
#include "kernels/common/cuda_check.h"
#include "tests/kernels/kernel_test_util.h"

namespace dv {
namespace {

namespace fs = std::filesystem;

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

class NcclEnv : public ::testing::Test {
 protected:
  void SetUp() override {
    ::setenv("NCCL_NVLS_ENABLE", "0", 0);  // NVLink multicast stays off on these machines
    for (const char* v : {"RANK", "WORLD_SIZE", "LOCAL_RANK", "DEJAVU_NCCL_ID_FILE"}) ::unsetenv(v);
  }
  void TearDown() override {
    for (const char* v : {"RANK", "WORLD_SIZE", "LOCAL_RANK", "DEJAVU_NCCL_ID_FILE"}) ::unsetenv(v);
  }
  const fs::path id_file_ = fs::temp_directory_path() / ("dv_nccl_id_" + std::to_string(::getpid()));
};

TEST_F(NcclEnv, ReadsTorchrunVariablesAndRefusesBadOnes) {
  TpRankEnv env = tp_rank_from_env();
  EXPECT_EQ(env.rank, 0);
  EXPECT_EQ(env.world, 1);
  ::setenv("WORLD_SIZE", "4", 1);
  ::setenv("RANK", "3", 1);
  EXPECT_NE(error_of([] { tp_rank_from_env(); }).find("needs DEJAVU_NCCL_ID_FILE"), std::string::npos);
  ::setenv("DEJAVU_NCCL_ID_FILE", id_file_.c_str(), 1);
  env = tp_rank_from_env();
  EXPECT_EQ(env.rank, 3);
  EXPECT_EQ(env.world, 4);
  EXPECT_EQ(env.local_rank, 3);  // LOCAL_RANK unset: the rank
  EXPECT_EQ(env.id_file, id_file_.string());
  ::setenv("RANK", "4", 1);
  EXPECT_NE(error_of([] { tp_rank_from_env(); }).find("RANK=4 is not below WORLD_SIZE=4"), std::string::npos);
  ::setenv("RANK", "x1", 1);
  EXPECT_NE(error_of([] { tp_rank_from_env(); }).find("RANK='x1'"), std::string::npos);
}

TEST_F(NcclEnv, AllReduceOverOneRankLeavesTheTensorUnchanged) {
  DV_SKIP_WITHOUT_GPU();
  const NcclComm comm(TpRankEnv{0, 1, 0, id_file_.string()});
  EXPECT_EQ(fs::file_size(id_file_), sizeof(ncclUniqueId::internal));  // rank 0 published its id
  for (const size_t n : {size_t{1}, size_t{1001}, size_t{1} << 16}) {
    std::mt19937 rng(static_cast<unsigned>(n));
    std::normal_distribution<float> normal(0.f, 3.f);
    std::vector<__half> host(n), back(n);
    for (auto& h : host) h = __float2half(normal(rng));
    void* dev = nullptr;
    cudaStream_t stream = nullptr;
    DV_CUDA_CHECK(cudaMalloc(&dev, n * sizeof(__half)));
    DV_CUDA_CHECK(cudaStreamCreate(&stream));
    DV_CUDA_CHECK(cudaMemcpy(dev, host.data(), n * sizeof(__half), cudaMemcpyHostToDevice));
    comm.all_reduce_sum_fp16(dev, n, stream);
    DV_CUDA_CHECK(cudaStreamSynchronize(stream));
    DV_CUDA_CHECK(cudaMemcpy(back.data(), dev, n * sizeof(__half), cudaMemcpyDeviceToHost));
    DV_CUDA_CHECK(cudaStreamDestroy(stream));
    DV_CUDA_CHECK(cudaFree(dev));
    size_t differ = 0;
    for (size_t i = 0; i < n; ++i) differ += __half_as_ushort(host[i]) != __half_as_ushort(back[i]);
    EXPECT_EQ(differ, 0u) << n << " values";
  }
  fs::remove(id_file_);
}

TEST_F(NcclEnv, AWaitingRankGivesUpWhenRankZeroNeverWrites) {
  DV_SKIP_WITHOUT_GPU();
  const std::string missing = id_file_.string() + "_never";
  const std::string msg = error_of([&] { NcclComm comm(TpRankEnv{1, 2, 0, missing}, 0.2); });
  EXPECT_NE(msg.find("waited 0.2 s for rank 0"), std::string::npos) << msg;
}

}  // namespace
}  // namespace dv
