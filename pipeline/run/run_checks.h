// run_checks.h: what `dejavu run` checks about an experiment before any stage starts: problems that would
// otherwise surface only when a stage gets to them (an error) or never (a warning about what the results mean).
#pragma once

#include <functional>
#include <set>
#include <string>

#include "pipeline/experiment/experiment.h"

namespace dv {

// dv::Error naming the file when `device:` asks for CUDA and no GPU is visible (not at collect's first batch).
void check_run_device(const Experiment& e, const std::string& experiment_file);

// The inputs a run will read, checked before its first stage (and by --dry-run), so that a bad file fails the run
// at once instead of after hours of earlier stages. Each path is checked once however many stages read it.
class InputCheck {
 public:
  // The checkpoint opens: config.json, every tensor's safetensors header, shape and byte range (a truncated
  // file fails here), and the tokenizer files. `key` names the YAML key in the message.
  void checkpoint(const std::string& dir, const std::string& key);
  // The text opens and holds something besides whitespace (text_file.h).
  void text(const std::string& path, const std::string& key);
  // A store this run does not remake opens with a valid header (when it exists; a missing one fails later).
  void store(const std::string& path);
  // Any other check, run once per path (a task file parsed whole, a store's header).
  void once(const std::string& path, const std::function<void()>& check);

 private:
  std::set<std::string> done_;
};

// Warnings (stderr): eval scoring the very text the predictors were trained on (collect.text), which
// measures fit, not generalisation.
void warn_about_experiment(const Experiment& e, const std::string& experiment_file);

}  // namespace dv
