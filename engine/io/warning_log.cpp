// warning_log.cpp: see warning_log.h.
#include "engine/io/warning_log.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <mutex>

#include "engine/io/atomic_file.h"

namespace dv {
namespace {

std::mutex& log_mutex() {
  static std::mutex mu;
  return mu;
}

std::vector<WarningLog*>& open_logs() {
  static std::vector<WarningLog*> logs;
  return logs;
}

}  // namespace

void warn(const std::string& text, const std::string& code) {
  std::fprintf(stderr, "warning: %s\n", text.c_str());
  const std::lock_guard<std::mutex> lock(log_mutex());
  if (!open_logs().empty()) open_logs().back()->kept_.push_back({code, text});
}

WarningLog::WarningLog() {
  const std::lock_guard<std::mutex> lock(log_mutex());
  open_logs().push_back(this);
}

WarningLog::~WarningLog() {
  const std::lock_guard<std::mutex> lock(log_mutex());
  auto& logs = open_logs();
  logs.erase(std::remove(logs.begin(), logs.end(), this), logs.end());
}

std::vector<Warning> WarningLog::warnings() const {
  const std::lock_guard<std::mutex> lock(log_mutex());
  return kept_;
}

void write_warnings(const std::string& dir, const std::vector<Warning>& warnings) {
  const std::string path = dir + "/" + kWarningsFileName;
  if (warnings.empty()) {
    std::error_code ec;
    std::filesystem::remove(path, ec);
    return;
  }
  write_file_atomic(path, nlohmann::json(warnings).dump(1) + "\n");
}

std::vector<Warning> read_warnings(const std::string& dir) {
  const std::string path = dir + "/" + kWarningsFileName;
  if (!std::filesystem::exists(path)) return {};
  const nlohmann::json j = nlohmann::json::parse(read_small_file(path), nullptr, false);
  if (!j.is_array()) return {};
  std::vector<Warning> out;
  for (const auto& w : j)
    if (w.is_object()) out.push_back({w.value("code", ""), w.value("text", "")});
  return out;
}

}  // namespace dv
