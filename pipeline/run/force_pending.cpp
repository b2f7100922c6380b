// force_pending.cpp: see force_pending.h.
#include "pipeline/run/force_pending.h"

#include <filesystem>
#include <sstream>

#include "engine/io/atomic_file.h"

namespace dv {

ForcePending::ForcePending(const std::string& run_root) : path_(run_root + "/force.pending") {
  if (!std::filesystem::exists(path_)) return;
  std::istringstream in(read_small_file(path_));
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) stages_.insert(line);
}

void ForcePending::add(const std::set<std::string>& stages) {
  stages_.insert(stages.begin(), stages.end());
  save();
}

void ForcePending::done(const std::string& stage) {
  if (stages_.erase(stage) > 0) save();
}

void ForcePending::save() const {
  if (stages_.empty()) {
    std::error_code ec;
    std::filesystem::remove(path_, ec);
    return;
  }
  std::string text;
  for (const std::string& s : stages_) text += s + "\n";
  write_file_atomic(path_, text);
}

}  // namespace dv
