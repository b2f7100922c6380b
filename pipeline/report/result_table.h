// result_table.h: one schema per results table. A row struct lists its fields once (DV_RESULT_ROW: the
// nlohmann type macro, plus the same list as the CSV's columns in order), and write_result_table writes both
// <name>.csv and <name>.json from it, so the two cannot disagree; readers (the report) read the JSON back as
// rows (read_result_rows). CSV cells: numbers in their shortest round-trip form, null as an empty cell.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pipeline/report/csv_table.h"

namespace dv {

// "a, b,c" -> {"a", "b", "c"}: the column names of a DV_RESULT_ROW's field list.
std::vector<std::string> result_columns_of(const char* field_list);

#define DV_RESULT_ROW(Type, ...)                                       \
  NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Type, __VA_ARGS__)                \
  inline std::vector<std::string> result_columns(const Type*) {        \
    return ::dv::result_columns_of(#__VA_ARGS__);                       \
  }

// The CSV text of JSON rows (objects) under these columns, header first.
std::string result_csv(const std::vector<std::string>& columns, const nlohmann::json& rows);

// <dir>/<name>.csv (the rows) and <dir>/<name>.json (`doc` with the rows under rows_key), each written
// atomically.
template <class Row>
void write_result_table(const std::string& dir, const std::string& name, const std::vector<Row>& rows,
                        nlohmann::json doc, const std::string& rows_key);

// The rows under rows_key of a results JSON as a table: its columns are the first row's keys. dv::Error naming
// the file when it is not such a document.
CsvTable read_result_rows(const std::string& json_path, const std::string& rows_key);

void write_result_files(const std::string& dir, const std::string& name, const std::string& csv,
                        const nlohmann::json& doc);

template <class Row>
void write_result_table(const std::string& dir, const std::string& name, const std::vector<Row>& rows,
                        nlohmann::json doc, const std::string& rows_key) {
  nlohmann::json list = nlohmann::json::array();
  for (const Row& r : rows) list.push_back(r);
  const std::string csv = result_csv(result_columns(static_cast<const Row*>(nullptr)), list);
  doc[rows_key] = std::move(list);
  write_result_files(dir, name, csv, doc);
}

}  // namespace dv
