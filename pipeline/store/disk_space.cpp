// disk_space.cpp: statvfs-based free-space query and check.
#include "pipeline/store/disk_space.h"

#include <sys/statvfs.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>

#include "kernels/common/error.h"

namespace dv {

int64_t free_disk_bytes(const std::string& path) {
  std::filesystem::path dir = std::filesystem::path(path).parent_path();
  if (dir.empty()) dir = ".";
  // A directory the writer has yet to create lives on its nearest existing ancestor's filesystem.
  std::error_code ec;
  while (!std::filesystem::exists(dir, ec) && dir.has_parent_path() && dir.parent_path() != dir) dir = dir.parent_path();
  struct statvfs st {};
  DV_CHECK(::statvfs(dir.c_str(), &st) == 0, "{}: cannot query free disk space of {}: {}", path, dir.string(),
           std::strerror(errno));
  return static_cast<int64_t>(st.f_bavail) * static_cast<int64_t>(st.f_frsize);
}

void check_free_space(const std::string& path, int64_t need_bytes, const std::string& what) {
  const int64_t free_bytes = free_disk_bytes(path);
  DV_CHECK(free_bytes >= need_bytes,
           "{}: not enough disk space: {} needs about {} but only {} is free; free some space, collect fewer "
           "tokens, or write elsewhere",
           path, what, human_bytes(need_bytes), human_bytes(free_bytes));
}

std::string human_bytes(int64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024.0 && u < 5) {
    v /= 1024.0;
    ++u;
  }
  return u == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.1f} {}", v, units[u]);
}

}  // namespace dv
