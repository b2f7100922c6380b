// run_report.h: `dejavu report RUN_DIR`: one page per run. RUN_DIR/report.md and a self-contained
// RUN_DIR/report.html with the summary, the model (path and shape), the commits and machine each stage ran
// at, the stage times, the resolved experiment and every stage's config, tables, plots and facts. Written
// under temporary names and renamed when complete. Also takes a folder of one stage's results (the
// `--out` of `dejavu eval` or `measure`), which then has one section.
#pragma once

#include <string>
#include <vector>

namespace dv {

struct RunReport {
  std::string markdown, html;        // the files written
  std::vector<std::string> summary;  // the summary's lines (run_summary.h), for the terminal
  std::vector<std::string> notes;    // warnings and mismatches (run_notes.h), printed after the summary
};

// dv::Error (one line naming RUN_DIR) when it is missing, not a folder, or holds no results.
RunReport write_run_report(const std::string& run_dir);

// The summary and where the report is, as `dejavu run` and `dejavu report` print them.
std::string format_run_report(const RunReport& report);

}  // namespace dv
