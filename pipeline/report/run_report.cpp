// run_report.cpp: the report's header (what ran, on what, at which commit), the summary, the stage table,
// then one section per stage folder in pipeline order and any other result folder by name.
#include "pipeline/report/run_report.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "engine/io/atomic_file.h"
#include "kernels/common/build_info.h"
#include "kernels/common/error.h"
#include "pipeline/report/report_doc.h"
#include "pipeline/report/run_info.h"
#include "pipeline/report/run_notes.h"
#include "pipeline/report/run_summary.h"
#include "pipeline/report/stage_record.h"
#include "pipeline/report/stage_sections.h"

namespace dv {
namespace {

namespace fs = std::filesystem;

// Result folders of the run: the pipeline's stages in their order, then any other folder by name.
std::vector<std::string> result_folders(const std::string& run_dir) {
  std::vector<std::string> known, other;
  for (Stage s : kAllStages)
    if (has_report_files(run_dir + "/" + stage_name(s))) known.push_back(stage_name(s));
  for (const auto& e : fs::directory_iterator(run_dir)) {
    const std::string name = e.path().filename().string();
    // <stage>.partial holds a stopped run's unfinished work, not results (run_notes.h says so instead).
    const bool unfinished = e.path().extension() == ".partial" || e.path().extension() == ".replaced";
    if (e.is_directory() && !unfinished && std::find(known.begin(), known.end(), name) == known.end() &&
        has_report_files(e.path().string()))
      other.push_back(name);
  }
  std::sort(other.begin(), other.end());
  known.insert(known.end(), other.begin(), other.end());
  return known;
}

struct StageRow {
  std::string folder;
  std::optional<StageRecord> record;
  std::optional<double> seconds;
  bool finished = false;
};

void add_header(ReportDoc& doc, const RunInfo& info, const std::vector<StageRow>& stages) {
  const std::string name = info.experiment ? info.experiment->name : fs::path(info.dir).filename().string();
  doc.heading(1, "dejavu report: " + name);
  std::vector<std::string> facts;
  facts.push_back("run folder: " + info.dir);
  if (info.experiment)
    facts.push_back(fmt::format("experiment: {} (device {}, dtype {}, seed {})", info.experiment->name,
                                info.experiment->device, info.experiment->dtype, info.experiment->seed));
  if (info.model_config)
    facts.push_back(fmt::format("model: {}: {} (from {})", info.model.empty() ? "?" : info.model,
                                model_shape_summary(*info.model_config), info.model_config_source));
  else if (!info.model.empty())
    facts.push_back("model: " + info.model + " (its config.json is no longer there)");
  std::set<std::string> commits;
  const StageRecord* latest = nullptr;
  for (const StageRow& s : stages) {
    if (!s.record) continue;
    commits.insert(s.record->commit);
    if (latest == nullptr || s.record->finished_utc > latest->finished_utc) latest = &*s.record;
  }
  std::string commit_list;
  for (const auto& c : commits) commit_list += (commit_list.empty() ? "" : ", ") + c;
  if (!commits.empty())
    facts.push_back(fmt::format("commit{} the stages ran at: {}", commits.size() > 1 ? "s" : "", commit_list));
  facts.push_back("report written at commit " + recorded_commit() + ", " + utc_now_iso8601());
  if (latest != nullptr)
    facts.push_back(fmt::format("machine (last stage, {}): {}", latest->stage, machine_summary(latest->machine)));
  else
    facts.push_back("machine (where the report was written; the run recorded none): " +
                    machine_summary(describe_machine()));
  doc.list(facts);
}

void add_stage_table(ReportDoc& doc, const std::vector<StageRow>& stages) {
  CsvTable t;
  t.header = {"stage",  "status", "wall s", "CPU s", "started (UTC)", "finished (UTC)",
              "commit", "load (1 min) at the end"};
  for (const StageRow& s : stages) {
    const StageRecord* r = s.record ? &*s.record : nullptr;
    t.rows.push_back({s.folder, s.finished ? "finished" : "not finished",
                      s.seconds ? fmt::format("{:.1f}", *s.seconds) : "",
                      r && r->cpu_seconds >= 0 ? fmt::format("{:.1f}", r->cpu_seconds) : "",
                      r ? r->started_utc : "", r ? r->finished_utc : "", r ? r->commit : "",
                      r && r->machine.load_1min >= 0 ? fmt::format("{:.2f}", r->machine.load_1min) : ""});
  }
  doc.heading(2, "Stages");
  doc.table("", std::move(t));
  // Say plainly which facts an older run folder lacks, rather than leaving blank cells unexplained.
  std::vector<std::string> none, no_start;
  for (const StageRow& s : stages) {
    if (!s.record)
      none.push_back(s.folder);
    else if (s.record->started_utc.empty())
      no_start.push_back(s.folder);
  }
  if (!none.empty())
    doc.text(fmt::format("No {} in {}: no times, commit or machine recorded (results of a plain stage command, or "
                         "of a run from before stage records).",
                         kStageRecordName, fmt::join(none, ", ")));
  if (!no_start.empty())
    doc.text(fmt::format("The {} of {} has no start time (written before it was kept).", kStageRecordName,
                         fmt::join(no_start, ", ")));
}

// Stages the experiment lists that left no results here, said in words: nothing on disk records a skip.
void add_missing_stages(ReportDoc& doc, const RunInfo& info, const std::vector<std::string>& folders) {
  if (!info.experiment) return;
  std::vector<std::string> missing;
  for (Stage s : kAllStages)
    if (info.experiment->runs(s) && std::find(folders.begin(), folders.end(), stage_name(s)) == folders.end())
      missing.push_back(stage_name(s));
  if (missing.empty()) return;
  doc.text(fmt::format("Listed in experiment.yaml but without results in this folder: {} (skipped where it cannot "
                       "run, e.g. bench without a GPU; not reached by a stopped run; or left out by --only).",
                       fmt::join(missing, ", ")));
}

}  // namespace

RunReport write_run_report(const std::string& run_dir) {
  DV_CHECK(fs::exists(run_dir), "{}: no such run folder (give the output_dir of a `dejavu run`, e.g. runs/quickstart)",
           run_dir);
  DV_CHECK(fs::is_directory(run_dir), "{}: not a folder (give the output_dir of a `dejavu run`)", run_dir);
  const std::vector<std::string> folders = result_folders(run_dir);
  const bool root_results = !fs::exists(run_dir + "/experiment.yaml") && has_report_files(run_dir);
  DV_CHECK(!folders.empty() || root_results || fs::exists(run_dir + "/experiment.yaml"),
           "{}: not a run folder (no experiment.yaml, no stage folder with results, no CSV/JSON/PNG files)", run_dir);
  const RunInfo info = load_run_info(run_dir);

  std::vector<StageRow> stages;
  for (const auto& f : folders) {
    StageRow row{f, read_stage_record(run_dir + "/" + f), std::nullopt, fs::exists(run_dir + "/" + f + "/stage.hash")};
    if (row.record) row.seconds = row.record->seconds;
    stages.push_back(std::move(row));
  }

  ReportDoc doc;
  add_header(doc, info, stages);
  doc.heading(2, "Summary");
  const std::vector<std::string> summary = summarize_run(info);
  if (summary.empty())
    doc.text("No stage has results the summary knows (measure, eval, tasks).");
  else
    doc.list(summary);
  const std::vector<std::string> notes = run_notes(info);
  if (!notes.empty()) {
    doc.heading(2, "Warnings");
    doc.list(notes);
  }
  // The headline plots next, eval's (perplexity, tasks) first: what a reader opens the report for.
  std::vector<std::string> plot_order;
  for (const char* first : {"eval", "measure"})
    if (std::find(folders.begin(), folders.end(), first) != folders.end()) plot_order.push_back(first);
  for (const auto& f : folders)
    if (std::find(plot_order.begin(), plot_order.end(), f) == plot_order.end()) plot_order.push_back(f);
  if (root_results) plot_order.insert(plot_order.begin(), "");
  const std::vector<std::string> plots = plot_files(run_dir, plot_order);
  if (!plots.empty()) doc.heading(2, "Plots");
  for (const std::string& png : plots) doc.image(png, png);
  if (!stages.empty()) add_stage_table(doc, stages);
  add_missing_stages(doc, info, folders);
  if (fs::exists(run_dir + "/experiment.yaml"))
    doc.code("experiment.yaml: the experiment as `dejavu run` resolved it (every default filled in)",
             read_small_file(run_dir + "/experiment.yaml"));
  if (root_results) add_folder_section(doc, run_dir, "", "results", false);
  for (const auto& f : folders) add_folder_section(doc, run_dir, f, f, false);

  RunReport report{run_dir + "/report.md", run_dir + "/report.html", summary, notes};
  write_file_atomic(report.markdown, render_markdown(doc));
  write_file_atomic(report.html, render_html(doc, run_dir));
  return report;
}

std::string format_run_report(const RunReport& r) {
  std::string out;
  for (const auto& line : r.summary) out += line + "\n";
  for (const auto& line : r.notes) out += "warning: " + line + "\n";
  return out + fmt::format("report: {} ({}; every table, plot and config of the run)\n", r.html, r.markdown);
}

}  // namespace dv
