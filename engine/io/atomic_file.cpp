// atomic_file.cpp: temp-name + fsync + rename writes, and small-file helpers.
#include "engine/io/atomic_file.h"

#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "kernels/common/error.h"

namespace dv {

AtomicFile::AtomicFile(const std::string& path)
    : path_(path), temp_path_(path + ".tmp-" + std::to_string(::getpid())) {
  const auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) make_dirs(parent.string());
  file_ = std::fopen(temp_path_.c_str(), "wb");
  DV_CHECK(file_ != nullptr, "{}: cannot create: {}", temp_path_, std::strerror(errno));
}

AtomicFile::~AtomicFile() {
  if (file_ != nullptr) {
    std::fclose(file_);
    std::remove(temp_path_.c_str());
  }
}

void AtomicFile::write(const void* data, size_t n) {
  DV_CHECK(file_ != nullptr, "{}: write after commit", path_);
  if (n == 0) return;
  DV_CHECK(std::fwrite(data, 1, n, file_) == n, "{}: write failed: {}", temp_path_, std::strerror(errno));
}

void AtomicFile::commit() {
  DV_CHECK(file_ != nullptr, "{}: committed twice", path_);
  const bool ok = std::fflush(file_) == 0 && ::fsync(::fileno(file_)) == 0;
  const int err = errno;
  std::fclose(file_);
  file_ = nullptr;
  if (!ok) {
    std::remove(temp_path_.c_str());
    DV_FAIL("{}: write failed: {}", path_, std::strerror(err));
  }
  if (std::rename(temp_path_.c_str(), path_.c_str()) != 0) {
    const int rerr = errno;
    std::remove(temp_path_.c_str());
    DV_FAIL("{}: cannot rename the finished file into place: {}", path_, std::strerror(rerr));
  }
}

void write_file_atomic(const std::string& path, const std::string& text) {
  AtomicFile f(path);
  f.write(text);
  f.commit();
}

std::string read_small_file(const std::string& path) {
  std::error_code ec;
  DV_CHECK(std::filesystem::is_regular_file(path, ec), "{}: no such file", path);
  std::ifstream in(path, std::ios::binary);
  DV_CHECK(in.good(), "{}: cannot open", path);
  std::ostringstream ss;
  ss << in.rdbuf();
  DV_CHECK(!in.bad(), "{}: read failed", path);
  return ss.str();
}

namespace {
int remove_entry(const char* path, const struct stat*, int, struct FTW*) { return ::remove(path) == 0 ? 0 : errno; }
}  // namespace

void remove_tree(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0 && errno == ENOENT) return;
  const int rc = ::nftw(path.c_str(), remove_entry, 16, FTW_DEPTH | FTW_PHYS);
  DV_CHECK(rc == 0, "{}: cannot remove: {}", path, std::strerror(rc > 0 ? rc : errno));
}

void make_dirs(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  DV_CHECK(!ec, "{}: cannot create directory: {}", path, ec.message());
}

}  // namespace dv
