// stage_times.h: the wall time of each stage of one `dejavu run`, rewritten (atomically) after every stage so
// that an interrupted run still leaves what it finished: {"collect": {"status": "ran", "seconds": 12.3}, ...}.
// status: ran | unchanged (skipped, its last run's outputs kept) | skipped: <reason>.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace dv {

class StageTimes {
 public:
  explicit StageTimes(std::string path) : path_(std::move(path)) {}
  void record(const std::string& stage, const std::string& status, double seconds);

 private:
  std::string path_;
  nlohmann::json times_ = nlohmann::json::object();
};

}  // namespace dv
