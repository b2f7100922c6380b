// nccl_comm.cpp: environment parsing, the unique-id hand-off through a file, and the checked NCCL calls.
#include "engine/tp/nccl_comm.h"

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <thread>

#include "engine/io/atomic_file.h"
#include "kernels/common/cuda_check.h"

namespace dv {
namespace {

int env_int(const char* name, int fallback, int min_value) {
  const char* v = std::getenv(name);
  if (v == nullptr || v[0] == '\0') return fallback;
  char* end = nullptr;
  const long n = std::strtol(v, &end, 10);
  DV_CHECK(*end == '\0' && n >= min_value && n < (1 << 20), "environment variable {}='{}': expected an integer >= {}",
           name, v, min_value);
  return static_cast<int>(n);
}

ncclUniqueId publish_or_wait_for_id(const TpRankEnv& env, double wait_seconds) {
  ncclUniqueId id;
  if (env.rank == 0) {
    DV_NCCL_CHECK(ncclGetUniqueId(&id));
    if (!env.id_file.empty()) write_file_atomic(env.id_file, std::string(id.internal, sizeof(id.internal)));
    return id;
  }
  // The file appears whole (written to a temporary name, then renamed), so existing means complete.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(wait_seconds);
  while (!std::filesystem::exists(env.id_file)) {
    DV_CHECK(std::chrono::steady_clock::now() < deadline,
             "{}: rank {} waited {} s for rank 0 to write the NCCL id (DEJAVU_NCCL_ID_FILE); is rank 0 running?",
             env.id_file, env.rank, wait_seconds);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const std::string bytes = read_small_file(env.id_file);
  DV_CHECK(bytes.size() == sizeof(id.internal), "{}: holds {} bytes, expected an NCCL id of {}", env.id_file,
           bytes.size(), sizeof(id.internal));
  std::memcpy(id.internal, bytes.data(), sizeof(id.internal));
  return id;
}

}  // namespace

bool tp_world_size_in_env() {
  for (const char* v : {"WORLD_SIZE", "OMPI_COMM_WORLD_SIZE", "PMI_SIZE"})
    if (std::getenv(v) != nullptr) return true;
  return false;
}

TpRankEnv tp_rank_from_env() {
  TpRankEnv env;
  // torchrun's names first, then Open MPI's and MPICH/Intel MPI's (mpirun sets no RANK of its own).
  env.world = env_int("WORLD_SIZE", env_int("OMPI_COMM_WORLD_SIZE", env_int("PMI_SIZE", 1, 1), 1), 1);
  env.rank = env_int("RANK", env_int("OMPI_COMM_WORLD_RANK", env_int("PMI_RANK", 0, 0), 0), 0);
  env.local_rank = env_int("LOCAL_RANK", env_int("OMPI_COMM_WORLD_LOCAL_RANK", env_int("MPI_LOCALRANKID", env.rank, 0), 0), 0);
  DV_CHECK(env.rank < env.world, "environment: RANK={} is not below WORLD_SIZE={}", env.rank, env.world);
  if (const char* f = std::getenv("DEJAVU_NCCL_ID_FILE")) env.id_file = f;
  DV_CHECK(env.world == 1 || !env.id_file.empty(),
           "environment: WORLD_SIZE={} needs DEJAVU_NCCL_ID_FILE (a fresh path every rank can read) for the NCCL id",
           env.world);
  return env;
}

NcclComm::NcclComm(const TpRankEnv& env, double wait_seconds) : env_(env) {
  DV_CHECK(env.world == 1 || !env.id_file.empty(), "NCCL communicator: world size {} needs an id file", env.world);
  ::setenv("NCCL_NVLS_ENABLE", "0", /*overwrite=*/0);  // NVLink multicast off unless the user decided otherwise
  DV_CUDA_CHECK(cudaSetDevice(env.local_rank));
  const ncclUniqueId id = publish_or_wait_for_id(env, wait_seconds);
  DV_NCCL_CHECK(ncclCommInitRank(&comm_, env.world, id, env.rank));
}

NcclComm::~NcclComm() {
  if (comm_ != nullptr) (void)ncclCommDestroy(comm_);  // a destructor must not throw; nothing to do on failure
}

void NcclComm::all_reduce_sum_fp16(void* data, size_t count, cudaStream_t stream) const {
  DV_NCCL_CHECK(ncclAllReduce(data, data, count, ncclFloat16, ncclSum, comm_, stream));
}

void NcclComm::all_reduce_max_f32(float* data, size_t count, cudaStream_t stream) const {
  DV_NCCL_CHECK(ncclAllReduce(data, data, count, ncclFloat32, ncclMax, comm_, stream));
}

void NcclComm::all_reduce_sum_f32(float* data, size_t count, cudaStream_t stream) const {
  DV_NCCL_CHECK(ncclAllReduce(data, data, count, ncclFloat32, ncclSum, comm_, stream));
}

}  // namespace dv
