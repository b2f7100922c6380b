// result_table.cpp: see result_table.h.
#include "pipeline/report/result_table.h"

#include <fmt/format.h>

#include "engine/io/atomic_file.h"
#include "kernels/common/error.h"

namespace dv {
namespace {

std::string cell(const nlohmann::json& v) {
  if (v.is_null()) return "";
  if (v.is_string()) {
    const std::string s = v.get<std::string>();
    if (s.find_first_of(",\"\n") == std::string::npos) return s;
    std::string quoted = "\"";
    for (char c : s) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
    return quoted + "\"";
  }
  if (v.is_number_float()) return fmt::format("{}", v.get<double>());
  return v.dump();  // integers, booleans
}

}  // namespace

std::vector<std::string> result_columns_of(const char* field_list) {
  std::vector<std::string> out(1);
  for (const char* p = field_list; *p != '\0'; ++p) {
    if (*p == ',') {
      out.emplace_back();
    } else if (*p != ' ') {
      out.back() += *p;
    }
  }
  return out;
}

std::string result_csv(const std::vector<std::string>& columns, const nlohmann::json& rows) {
  std::string csv;
  for (size_t i = 0; i < columns.size(); ++i) csv += (i ? "," : "") + columns[i];
  csv += "\n";
  for (const nlohmann::json& r : rows) {
    for (size_t i = 0; i < columns.size(); ++i) csv += (i ? "," : "") + cell(r.at(columns[i]));
    csv += "\n";
  }
  return csv;
}

void write_result_files(const std::string& dir, const std::string& name, const std::string& csv,
                        const nlohmann::json& doc) {
  make_dirs(dir);
  write_file_atomic(dir + "/" + name + ".csv", csv);
  write_file_atomic(dir + "/" + name + ".json", doc.dump(1) + "\n");
}

CsvTable read_result_rows(const std::string& json_path, const std::string& rows_key) {
  const nlohmann::json doc = nlohmann::json::parse(read_small_file(json_path), nullptr, false);
  DV_CHECK(!doc.is_discarded() && doc.is_object() && doc.contains(rows_key) && doc[rows_key].is_array(),
           "{}: not a results file (no '{}' list)", json_path, rows_key);
  CsvTable t;
  const nlohmann::json& rows = doc[rows_key];
  if (rows.empty()) return t;
  DV_CHECK(rows[0].is_object(), "{}: '{}' holds no rows of fields", json_path, rows_key);
  for (const auto& [key, value] : rows[0].items()) t.header.push_back(key);
  for (const nlohmann::json& r : rows) {
    std::vector<std::string> cells;
    for (const std::string& c : t.header) cells.push_back(r.contains(c) ? cell(r[c]) : "");
    t.rows.push_back(std::move(cells));
  }
  return t;
}

}  // namespace dv
