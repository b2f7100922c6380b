// run_notes.cpp: see run_notes.h.
#include "pipeline/report/run_notes.h"

#include <filesystem>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "engine/io/atomic_file.h"
#include "engine/io/warning_log.h"
#include "pipeline/experiment/config_diff.h"
#include "pipeline/experiment/experiment_yaml.h"

namespace dv {
namespace {

namespace fs = std::filesystem;

// The run folder itself, then each stage folder: where warnings.json files are.
std::vector<std::pair<std::string, std::string>> warning_folders(const std::string& run_dir) {
  std::vector<std::pair<std::string, std::string>> out = {{"run", run_dir}};
  for (Stage s : kAllStages) out.emplace_back(stage_name(s), run_dir + "/" + stage_name(s));
  return out;
}

// The stage's recorded config against experiment.yaml's: the changed keys, or "" when they agree.
std::string config_mismatch(const RunInfo& info, Stage s) {
  const std::string recorded = info.dir + "/" + stage_name(s) + "/config.yaml";
  if (!info.experiment || !info.experiment->runs(s) || !fs::exists(recorded)) return "";
  const std::string text = read_small_file(recorded);
  const std::string now = stage_config_yaml(*info.experiment, s);
  if (text == now) return "";
  std::vector<std::string> keys = changed_yaml_keys(text, now);
  return keys.empty() ? std::string("(formatting only)") : fmt::format("{}", fmt::join(keys, ", "));
}

}  // namespace

std::vector<std::string> run_notes(const RunInfo& info) {
  std::vector<std::string> out;
  for (const auto& [name, dir] : warning_folders(info.dir))
    for (const Warning& w : read_warnings(dir)) out.push_back(fmt::format("{}: {}", name, w.text));
  for (Stage s : kAllStages) {
    const std::string keys = config_mismatch(info, s);
    if (!keys.empty())
      out.push_back(fmt::format("{0}: {0}/config.yaml differs from experiment.yaml ({1}): its results are from an "
                                "earlier run with other settings (the run with these settings failed or was "
                                "stopped before it replaced them)",
                                stage_name(s), keys));
    if (fs::exists(info.dir + "/" + stage_name(s) + ".partial"))
      out.push_back(fmt::format("{0}: {0}.partial/ holds the unfinished work of a stopped or failed run, not results "
                                "(`dejavu run` with the same settings resumes it, with others discards it)",
                                stage_name(s)));
  }
  return out;
}

bool run_has_warning(const std::string& run_dir, const std::string& code) {
  for (const auto& [name, dir] : warning_folders(run_dir))
    for (const Warning& w : read_warnings(dir))
      if (w.code == code) return true;
  return false;
}

}  // namespace dv
