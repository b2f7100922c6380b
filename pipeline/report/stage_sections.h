// stage_sections.h: one report section per result folder: its resolved config, every CSV as a table,
// every PNG, the scalar facts of each JSON, an activation store's attributes, and the other files by size.
// Knows no stage's file names, so a new stage's results (tasks, bench, ...) appear without a change here.
#pragma once

#include <string>
#include <vector>

#include "pipeline/report/report_doc.h"

namespace dv {

// Tables longer than this show their first rows and say how many were left out.
constexpr size_t kReportMaxTableRows = 400;

// `folder` is relative to run_dir ("" for the run folder itself); `title` heads the section. with_plots false:
// the folder's PNGs are named, not shown (the report shows them first, under Plots: add_plots).
void add_folder_section(ReportDoc& doc, const std::string& run_dir, const std::string& folder,
                        const std::string& title, bool with_plots = true);

// Every PNG of these folders (relative to run_dir, "" for run_dir itself), in the order given, as paths relative
// to run_dir: the report's headline plots.
std::vector<std::string> plot_files(const std::string& run_dir, const std::vector<std::string>& folders);

// True when the folder holds anything a section would show (a config, a CSV, a PNG, a JSON, a store).
bool has_report_files(const std::string& dir);

}  // namespace dv
