// output_lock.cpp: flock on a lock file, with the holder's identity written into it. The lock file is
// removed on release; a writer that opened it just before could then hold a lock on a file no longer at
// the path, so after locking each writer checks that its file is still the one the path names (else retries).
#include "engine/io/output_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "kernels/common/error.h"

namespace dv {
namespace {

// What a lock file says about its holder: "pid N\ncommand\n"; empty when the holder has not written it yet.
std::string read_holder(int fd) {
  std::string text;
  char buf[4096];
  ssize_t n;
  while ((n = ::pread(fd, buf, sizeof(buf), static_cast<off_t>(text.size()))) > 0) text.append(buf, n);
  return text;
}

std::string describe_holder(const std::string& text) {
  std::istringstream in(text);
  std::string pid_line, command;
  std::getline(in, pid_line);
  std::getline(in, command);
  if (pid_line.rfind("pid ", 0) != 0) return "a process that has not said who it is yet";
  return fmt::format("pid {} ({})", pid_line.substr(4), command.empty() ? "command unknown" : command);
}

bool same_file(int fd, const std::string& path) {
  struct stat a {}, b {};
  return ::fstat(fd, &a) == 0 && ::stat(path.c_str(), &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

}  // namespace

std::string output_lock_path(const std::string& output) {
  std::string p = output;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  return p + ".lock";
}

std::string current_command_line() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::string raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!raw.empty() && raw.back() == '\0') raw.pop_back();
  for (char& c : raw)
    if (c == '\0' || c == '\n') c = ' ';
  return raw.empty() ? "unknown" : raw;
}

OutputLock::OutputLock(const std::string& output) : lock_path_(output_lock_path(output)) {
  const std::filesystem::path parent = std::filesystem::path(lock_path_).parent_path();
  if (!parent.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(parent, ec);
    DV_CHECK(!ec, "{}: cannot create its folder {}: {}", output, parent.string(), ec.message());
  }
  for (int attempt = 0; attempt < 100; ++attempt) {
    const int fd = ::open(lock_path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    DV_CHECK(fd >= 0, "{}: cannot create the lock file: {}", lock_path_, std::strerror(errno));
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      const std::string holder = describe_holder(read_holder(fd));
      ::close(fd);
      DV_CHECK(err == EWOULDBLOCK, "{}: cannot lock: {}", lock_path_, std::strerror(err));
      DV_FAIL("{} is being written by {}; wait for it to finish or stop it (lock {})", output, holder, lock_path_);
    }
    if (!same_file(fd, lock_path_)) {  // its previous holder removed it between our open and flock
      ::close(fd);
      continue;
    }
    const std::string previous = read_holder(fd);
    if (!previous.empty())
      std::fprintf(stderr, "note: %s: taking over the lock of %s, which is no longer running\n", lock_path_.c_str(),
                   describe_holder(previous).c_str());
    const std::string me = fmt::format("pid {}\n{}\n", ::getpid(), current_command_line());
    DV_CHECK(::ftruncate(fd, 0) == 0 && ::pwrite(fd, me.data(), me.size(), 0) == static_cast<ssize_t>(me.size()),
             "{}: cannot write the lock file: {}", lock_path_, std::strerror(errno));
    fd_ = fd;
    return;
  }
  DV_FAIL("{}: cannot take the lock (it keeps being replaced)", lock_path_);
}

OutputLock::~OutputLock() {
  if (fd_ < 0) return;
  ::unlink(lock_path_.c_str());  // before unlocking, so that no new writer locks the file being removed
  ::close(fd_);
}

}  // namespace dv
