// run_notes.h: what a reader must know before trusting a run folder's numbers, gathered for the end-of-run
// summary and the report's Warnings section: every warning the run and its stages raised (their
// warnings.json, engine/io/warning_log.h), a stage whose recorded config.yaml differs from the run's
// experiment.yaml (a later run with other settings failed or was stopped before it replaced the stage's
// results), and unfinished work left in <stage>.partial by an interrupted run.
#pragma once

#include <string>
#include <vector>

#include "pipeline/report/run_info.h"

namespace dv {

// One line each, "collect: <warning>" / "eval: ..." / "run: ...", in pipeline order.
std::vector<std::string> run_notes(const RunInfo& info);

// True when the run or one of its stages raised a warning with this code (warning_log.h).
bool run_has_warning(const std::string& run_dir, const std::string& code);

}  // namespace dv
