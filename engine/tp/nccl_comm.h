// nccl_comm.h: one NCCL communicator per process for tensor parallelism (one process per GPU), with the ranks
// taken from the environment as torchrun sets them (RANK, WORLD_SIZE, LOCAL_RANK; mpirun's OMPI_COMM_WORLD_* /
// PMI_* when those are unset; none: one rank) and the NCCL unique id handed from rank 0 to the others through a file: rank 0 writes it atomically to the path in
// DEJAVU_NCCL_ID_FILE, the others wait for it (bounded). The path must be fresh for each run (a stale file
// from an earlier run would hand out a dead id): launchers put a job id in it.
// NVLink multicast stays off on the project's GPU machines: NCCL_NVLS_ENABLE=0 is set when unset.
#pragma once

#include <cstddef>
#include <string>

#include <cuda_runtime.h>
#include <nccl.h>

#include "kernels/common/error.h"

namespace dv {

inline void nccl_check(ncclResult_t status, const char* what, const char* file, int line) {
  if (status != ncclSuccess)
    DV_FAIL("NCCL error {} ({}) in {} at {}:{}", static_cast<int>(status), ncclGetErrorString(status), what, file,
            line);
}

}  // namespace dv

#define DV_NCCL_CHECK(expr) ::dv::nccl_check((expr), #expr, __FILE__, __LINE__)

namespace dv {

struct TpRankEnv {
  int rank = 0;        // RANK: this process's rank in the tensor-parallel group
  int world = 1;       // WORLD_SIZE: processes (GPUs) in the group
  int local_rank = 0;  // LOCAL_RANK: the GPU of this host the process drives
  std::string id_file; // DEJAVU_NCCL_ID_FILE: where rank 0 publishes the NCCL unique id
};

// Reads RANK / WORLD_SIZE / LOCAL_RANK / DEJAVU_NCCL_ID_FILE; dv::Error naming the variable when a value is
// not an integer or out of range, or when world > 1 and no id file is given.
TpRankEnv tp_rank_from_env();
// Whether a launcher set a world size (torchrun's WORLD_SIZE, mpirun's OMPI_COMM_WORLD_SIZE / PMI_SIZE): this
// process is one rank of a group, not a command to spawn the group.
bool tp_world_size_in_env();

class NcclComm {
 public:
  // Selects GPU env.local_rank and joins the group (blocks until every rank has joined). Rank 0 writes the
  // id to env.id_file (also at world size 1 when a path is given, so that path is exercised); the others wait
  // up to wait_seconds for it.
  explicit NcclComm(const TpRankEnv& env, double wait_seconds = 120.0);
  ~NcclComm();
  NcclComm(const NcclComm&) = delete;
  NcclComm& operator=(const NcclComm&) = delete;

  int rank() const { return env_.rank; }
  int world() const { return env_.world; }
  // Sums `count` fp16 values at device pointer `data` over all ranks, in place, ordered on `stream`.
  void all_reduce_sum_fp16(void* data, size_t count, cudaStream_t stream) const;
  // Elementwise max (or sum) of `count` fp32 values over all ranks, in place (checks, timings of every rank).
  void all_reduce_max_f32(float* data, size_t count, cudaStream_t stream) const;
  void all_reduce_sum_f32(float* data, size_t count, cudaStream_t stream) const;

 private:
  TpRankEnv env_;
  ncclComm_t comm_ = nullptr;
};

}  // namespace dv
