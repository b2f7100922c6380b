// stage_folder.cpp: the partial folder's states and the exchange that publishes it. renameat2's
// RENAME_EXCHANGE swaps two paths in one step (Linux 3.15+, ext4/xfs/btrfs/tmpfs); where a file system
// lacks it the old folder is renamed aside first, which leaves a short window with no <dir> at all
// (a later run then finds no finished stage and runs it again: never mixed files).
#include "pipeline/run/stage_folder.h"

#include <fcntl.h>
#include <stdio.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>

#include "engine/io/atomic_file.h"
#include "kernels/common/error.h"

namespace dv {
namespace {

namespace fs = std::filesystem;

constexpr const char* kAttemptHashFile = "attempt.hash";

}  // namespace

std::string partial_folder_path(const std::string& dir) { return dir + ".partial"; }

PartialFolder partial_folder_state(const std::string& dir, const std::string& hash) {
  const std::string partial = partial_folder_path(dir);
  if (!fs::exists(partial)) return PartialFolder::kNone;
  const std::string attempt = partial + "/" + kAttemptHashFile;
  return fs::exists(attempt) && read_small_file(attempt) == hash ? PartialFolder::kResumable : PartialFolder::kStale;
}

std::string describe_partial_folder(const std::string& dir, PartialFolder state) {
  const std::string partial = partial_folder_path(dir);
  switch (state) {
    case PartialFolder::kNone: return "";
    case PartialFolder::kResumable: return fmt::format("resumes the unfinished work in {}", partial);
    case PartialFolder::kStale:
      return fmt::format("discards {} (unfinished work of a run with other settings)", partial);
  }
  return "";
}

PartialFolder prepare_partial_folder(const std::string& dir, const std::string& hash, bool discard) {
  const std::string partial = partial_folder_path(dir);
  PartialFolder state = partial_folder_state(dir, hash);
  if (state == PartialFolder::kStale || (discard && state == PartialFolder::kResumable)) {
    std::fprintf(stderr, "   discarding %s (unfinished work of %s)\n", partial.c_str(),
                 state == PartialFolder::kStale ? "a run with other settings" : "an earlier run; --force");
    remove_tree(partial);
    state = PartialFolder::kStale;
  } else if (state == PartialFolder::kResumable) {
    std::fprintf(stderr, "   resuming the unfinished work in %s\n", partial.c_str());
  }
  make_dirs(partial);
  write_file_atomic(partial + "/" + kAttemptHashFile, hash);
  return state;
}

void commit_partial_folder(const std::string& dir, const std::string& stage_hash) {
  const std::string partial = partial_folder_path(dir);
  write_file_atomic(partial + "/stage.hash", stage_hash);
  std::error_code ec;
  fs::remove(partial + "/" + kAttemptHashFile, ec);
  if (!fs::exists(dir)) {
    DV_CHECK(std::rename(partial.c_str(), dir.c_str()) == 0, "cannot rename {} to {}: {}", partial, dir,
             std::strerror(errno));
    return;
  }
  // After the exchange <dir>.partial holds the replaced folder; without attempt.hash it counts as stale,
  // so a kill before its removal below costs only disk until the next run removes it.
  if (::renameat2(AT_FDCWD, partial.c_str(), AT_FDCWD, dir.c_str(), RENAME_EXCHANGE) != 0) {
    DV_CHECK(errno == EINVAL || errno == ENOSYS, "cannot exchange {} and {}: {}", partial, dir, std::strerror(errno));
    const std::string aside = dir + ".replaced";
    remove_tree(aside);
    DV_CHECK(std::rename(dir.c_str(), aside.c_str()) == 0 && std::rename(partial.c_str(), dir.c_str()) == 0,
             "cannot move {} onto {}: {}", partial, dir, std::strerror(errno));
    remove_tree(aside);
    return;
  }
  remove_tree(partial);
}

}  // namespace dv
