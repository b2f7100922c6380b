// tp_launch.cpp: fork / exec of the ranks and a polling wait that stops everyone on the first failure.
#include "engine/tp/tp_launch.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>

#include "kernels/common/error.h"

extern char** environ;

namespace dv {
namespace {

std::string how_it_ended(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "was killed by signal " + std::to_string(WTERMSIG(status));
  return "ended with wait status " + std::to_string(status);
}

void stop(std::vector<pid_t>& pids) {
  for (pid_t p : pids)
    if (p > 0) ::kill(p, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  for (pid_t& p : pids) {
    while (p > 0) {
      int status = 0;
      if (::waitpid(p, &status, WNOHANG) == p) {
        p = -1;
      } else if (std::chrono::steady_clock::now() > deadline) {
        ::kill(p, SIGKILL);
        ::waitpid(p, &status, 0);
        p = -1;
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    }
  }
}

}  // namespace

std::vector<std::string> own_command_line() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  const std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> argv;
  for (size_t i = 0; i < all.size();) {
    const size_t end = all.find('\0', i);
    argv.push_back(all.substr(i, end == std::string::npos ? std::string::npos : end - i));
    if (end == std::string::npos) break;
    i = end + 1;
  }
  DV_CHECK(!argv.empty(), "/proc/self/cmdline: cannot read this process's command line");
  // POSIX rather than std::filesystem: LibTorch's own copy of those symbols is not ABI-safe to call here.
  char exe[4096];
  const ssize_t n = ::readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  DV_CHECK(n > 0, "/proc/self/exe: cannot resolve this executable's path");
  argv[0] = std::string(exe, static_cast<size_t>(n));
  return argv;
}

void launch_ranks(const RankLaunch& l) {
  DV_CHECK(l.world >= 1 && !l.argv.empty(), "tensor-parallel launch: needs a command and world >= 1");
  std::vector<char*> args;
  for (const std::string& a : l.argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<pid_t> pids(l.world, -1);
  for (int r = 0; r < l.world; ++r) {
    // The environment is built before fork: between fork and exec only async-signal-safe calls are allowed.
    std::vector<std::string> env_strings = {"RANK=" + std::to_string(r), "LOCAL_RANK=" + std::to_string(r),
                                            "WORLD_SIZE=" + std::to_string(l.world), "DEJAVU_NCCL_ID_FILE=" + l.id_file};
    auto ours = [&](const std::string& kv) {
      for (const char* name : {"RANK=", "LOCAL_RANK=", "WORLD_SIZE=", "DEJAVU_NCCL_ID_FILE="})
        if (kv.rfind(name, 0) == 0) return true;
      return false;
    };
    for (char** e = environ; *e != nullptr; ++e)
      if (!ours(*e)) env_strings.push_back(*e);
    for (const char* kv : {"NCCL_NVLS_ENABLE=0", "TORCH_SYMM_MEM_DISABLE_MULTICAST=1", "NVSHMEM_DISABLE_NVLS=1"}) {
      const std::string name(kv, std::string(kv).find('=') + 1);
      if (std::getenv(name.substr(0, name.size() - 1).c_str()) == nullptr) env_strings.push_back(kv);
    }
    std::vector<char*> envp;
    for (std::string& kv : env_strings) envp.push_back(kv.data());
    envp.push_back(nullptr);
    const pid_t pid = ::fork();
    if (pid < 0) {
      stop(pids);
      DV_FAIL("tensor-parallel launch: fork of rank {} failed", r);
    }
    if (pid == 0) {
      ::execve(args[0], args.data(), envp.data());
      ::_exit(127);
    }
    pids[r] = pid;
  }
  const auto start = std::chrono::steady_clock::now();
  int running = l.world;
  while (running > 0) {
    for (int r = 0; r < l.world; ++r) {
      if (pids[r] <= 0) continue;
      int status = 0;
      if (::waitpid(pids[r], &status, WNOHANG) != pids[r]) continue;
      pids[r] = -1;
      --running;
      if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
        stop(pids);
        DV_FAIL("tensor-parallel launch: rank {} of {} {}; the other ranks were stopped", r, l.world,
                how_it_ended(status));
      }
    }
    const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (l.timeout_s > 0 && waited > l.timeout_s && running > 0) {
      stop(pids);
      DV_FAIL("tensor-parallel launch: {} of {} ranks still running after {} s; all stopped", running, l.world,
              l.timeout_s);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

}  // namespace dv
