// stage_sections.cpp: files are shown in name order, kind by kind (config, tables, plots, facts, files),
// so two reports of the same run are identical apart from the generation time.
#include "pipeline/report/stage_sections.h"

#include <algorithm>
#include <filesystem>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "engine/io/atomic_file.h"
#include "engine/io/warning_log.h"
#include "kernels/common/error.h"
#include "pipeline/report/stage_record.h"
#include "pipeline/store/activation_reader.h"

namespace dv {
namespace {

namespace fs = std::filesystem;

bool is_temporary(const std::string& name) {
  return name.find(".tmp-") != std::string::npos || name.find(".partial") != std::string::npos;
}

std::vector<fs::path> files_with(const std::string& dir, const std::string& ext) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file() && e.path().extension() == ext && !is_temporary(e.path().filename().string()))
      out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

std::string human_size(uintmax_t bytes) {
  if (bytes >= (1u << 20)) return fmt::format("{:.1f} MiB", static_cast<double>(bytes) / (1 << 20));
  if (bytes >= (1u << 10)) return fmt::format("{:.1f} KiB", static_cast<double>(bytes) / (1 << 10));
  return fmt::format("{} B", bytes);
}

std::string scalar_text(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_float()) return fmt::format("{:.6g}", v.get<double>());
  return v.dump();
}

// Scalars of a JSON document by their dotted path; short arrays of scalars inline, long arrays and arrays
// of objects (per-layer or per-point records, which the CSV tables hold) by their length only.
void flatten(const nlohmann::json& j, const std::string& path, int depth, CsvTable& out) {
  if (j.is_object()) {
    if (depth >= 3) {
      out.rows.push_back({path, fmt::format("({} fields)", j.size())});
      return;
    }
    for (const auto& [k, v] : j.items()) flatten(v, path.empty() ? k : path + "." + k, depth + 1, out);
    return;
  }
  if (j.is_array()) {
    const bool scalars = std::all_of(j.begin(), j.end(), [](const auto& x) { return x.is_primitive(); });
    if (scalars && j.size() <= 16) {
      std::string s = "[";
      for (size_t i = 0; i < j.size(); ++i) s += (i ? ", " : "") + scalar_text(j[i]);
      out.rows.push_back({path, s + "]"});
    } else {
      out.rows.push_back({path, fmt::format("({} entries)", j.size())});
    }
    return;
  }
  out.rows.push_back({path, scalar_text(j)});
}

void add_store_facts(ReportDoc& doc, const fs::path& h5, const std::string& shown) {
  CsvTable t;
  t.header = {"attribute", "value"};
  try {
    const ActivationReader r(h5.string(), ReaderOptions{true});
    const StoreMeta& m = r.meta();
    t.rows = {{"rows", std::to_string(r.rows())},
              {"complete", r.complete() ? "yes" : "no"},
              {"layers / d / ffn / heads", fmt::format("{} / {} / {} / {}", m.shape.n_layers, m.shape.hidden_size,
                                                      m.shape.ffn_dim, m.shape.num_heads)},
              {"corpus", m.corpus},
              {"corpus identity", m.corpus_identity},
              {"sampling", m.sample_settings},
              {"model dir", m.model_dir},
              {"written by", m.created_by},
              {"size", human_size(fs::file_size(h5))}};
  } catch (const Error& e) {
    t.rows = {{"error", e.what()}};
  }
  doc.table(shown + " (activation store)", std::move(t));
}

}  // namespace

bool has_report_files(const std::string& dir) {
  if (!fs::is_directory(dir)) return false;
  for (const char* ext : {".yaml", ".csv", ".png", ".json", ".h5"})
    if (!files_with(dir, ext).empty()) return true;
  return false;
}

std::vector<std::string> plot_files(const std::string& run_dir, const std::vector<std::string>& folders) {
  std::vector<std::string> out;
  for (const std::string& folder : folders)
    for (const fs::path& png : files_with((fs::path(run_dir) / folder).string(), ".png"))
      out.push_back(folder.empty() ? png.filename().string() : folder + "/" + png.filename().string());
  return out;
}

void add_folder_section(ReportDoc& doc, const std::string& run_dir, const std::string& folder,
                        const std::string& title, bool with_plots) {
  const fs::path dir = folder.empty() ? fs::path(run_dir) : fs::path(run_dir) / folder;
  auto shown = [&](const fs::path& p) { return folder.empty() ? p.filename().string() : folder + "/" + p.filename().string(); };
  doc.heading(2, title);
  if (!folder.empty() && !fs::exists(dir / "stage.hash") && fs::exists(dir / "config.yaml"))
    doc.text("This stage has not finished (no stage.hash): its files may be from an earlier run or incomplete.");
  if (fs::exists(dir / "config.yaml")) doc.code("resolved config (" + shown(dir / "config.yaml") + ")",
                                                read_small_file((dir / "config.yaml").string()));
  for (const fs::path& csv : files_with(dir.string(), ".csv")) {
    CsvTable t = read_csv(csv.string());
    std::string caption = shown(csv);
    if (t.rows.size() > kReportMaxTableRows) {
      caption += fmt::format(" (first {} of {} rows; the file has them all)", kReportMaxTableRows, t.rows.size());
      t.rows.resize(kReportMaxTableRows);
    }
    doc.table(caption, std::move(t));
  }
  std::vector<std::string> plots;
  for (const fs::path& png : files_with(dir.string(), ".png")) {
    if (with_plots) doc.image(shown(png), shown(png));
    plots.push_back(shown(png));
  }
  if (!with_plots && !plots.empty()) doc.text(fmt::format("Plots: {} (under Plots, at the top).", fmt::join(plots, ", ")));
  for (const fs::path& json : files_with(dir.string(), ".json")) {
    if (json.filename() == kStageRecordName) continue;           // in the stage table
    if (json.filename() == kWarningsFileName) continue;          // in the Warnings section
    const nlohmann::json j = nlohmann::json::parse(read_small_file(json.string()), nullptr, false);
    DV_CHECK(!j.is_discarded(), "{}: not valid JSON", json.string());
    CsvTable t;
    t.header = {"key", "value"};
    flatten(j, "", 0, t);
    doc.table(shown(json) + " (scalar fields)", std::move(t));
  }
  for (const fs::path& h5 : files_with(dir.string(), ".h5")) add_store_facts(doc, h5, shown(h5));
  std::vector<std::string> others;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string ext = e.path().extension().string(), name = e.path().filename().string();
    if (!e.is_regular_file() || is_temporary(name) || ext == ".csv" || ext == ".png" || ext == ".json" ||
        ext == ".h5" || name == "config.yaml" || name == "stage.hash" || name.rfind("report.", 0) == 0)
      continue;
    others.push_back(fmt::format("{} ({})", shown(e.path()), human_size(e.file_size())));
  }
  std::sort(others.begin(), others.end());
  if (!others.empty()) {
    doc.text("Other files:");
    doc.list(others);
  }
}

}  // namespace dv
