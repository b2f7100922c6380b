// output_lock.h: one writer per output. A stage holds an advisory lock (flock) on "<output>.lock" beside
// the file or folder it writes, for as long as it writes it, so that a second `dejavu run` or stage command
// aimed at the same output (two terminals, a re-submitted job) stops at once instead of interleaving with
// the first. The lock file holds the holder's pid and command line for the second writer's message. The
// kernel drops a flock when its holder dies, however it dies, so a lock left by a killed process is simply
// taken over (with a note naming the dead holder).
#pragma once

#include <string>

namespace dv {

class OutputLock {
 public:
  // Locks `output` (created or not yet). dv::Error (exit 2) naming the holder's pid and command when
  // another process holds the lock, or naming the lock file when it cannot be created.
  explicit OutputLock(const std::string& output);
  ~OutputLock();  // removes the lock file and unlocks
  OutputLock(const OutputLock&) = delete;
  OutputLock& operator=(const OutputLock&) = delete;
  const std::string& lock_path() const { return lock_path_; }

 private:
  std::string lock_path_;
  int fd_ = -1;
};

// "<output>.lock": where OutputLock keeps its lock (a trailing '/' of a folder is dropped).
std::string output_lock_path(const std::string& output);

// This process's command line ("dejavu run x.yaml"), as /proc/self/cmdline has it.
std::string current_command_line();

}  // namespace dv
