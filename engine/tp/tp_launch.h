// tp_launch.h: `--tp N` without torchrun: this machine's process starts N copies of a command, one per GPU, with
// the variables torchrun would set (RANK, WORLD_SIZE, LOCAL_RANK) and a fresh DEJAVU_NCCL_ID_FILE, and waits
// for all of them. It never hangs on a dead rank: when one rank fails (non-zero exit or a signal) or the
// timeout passes, the others are stopped (SIGTERM, then SIGKILL) and the error names the rank and how it ended.
// NVLink multicast stays off in the ranks (NCCL_NVLS_ENABLE=0, TORCH_SYMM_MEM_DISABLE_MULTICAST=1,
// NVSHMEM_DISABLE_NVLS=1 unless already set). POSIX (fork / exec); no CUDA here.
#pragma once

#include <string>
#include <vector>

namespace dv {

struct RankLaunch {
  std::vector<std::string> argv;  // argv[0]: the executable's path
  int world = 1;
  std::string id_file;            // DEJAVU_NCCL_ID_FILE given to every rank
  double timeout_s = 0;           // 0: no limit
};

// Returns when every rank exited 0; dv::Error otherwise (after stopping the rest).
void launch_ranks(const RankLaunch& launch);

// This process's own command line (/proc/self/cmdline), argv[0] replaced by /proc/self/exe's target.
std::vector<std::string> own_command_line();

}  // namespace dv
