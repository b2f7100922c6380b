// csv_table.cpp: a small RFC 4180 reader (quoted cells may hold commas, doubled quotes and newlines).
#include "pipeline/report/csv_table.h"

#include <cstdlib>

#include "engine/io/atomic_file.h"
#include "kernels/common/error.h"

namespace dv {

int CsvTable::column(const std::string& name) const {
  for (size_t i = 0; i < header.size(); ++i)
    if (header[i] == name) return static_cast<int>(i);
  return -1;
}

const std::string& CsvTable::cell(size_t row, const std::string& name) const {
  static const std::string kEmpty;
  const int c = column(name);
  return c < 0 ? kEmpty : rows.at(row)[c];
}

std::optional<double> CsvTable::number(size_t row, const std::string& name) const {
  const std::string& s = cell(row, name);
  if (s.empty()) return std::nullopt;
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size()) return std::nullopt;
  return v;
}

CsvTable parse_csv(const std::string& text, const std::string& where) {
  std::vector<std::vector<std::string>> records;
  std::vector<std::string> record;
  std::string cell;
  bool quoted = false, any = false;
  int line = 1;
  auto end_record = [&] {
    record.push_back(cell);
    records.push_back(record);
    record.clear();
    cell.clear();
    any = false;
  };
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        cell += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        line += c == '\n';
        cell += c;
      }
      continue;
    }
    if (c == '"') {
      quoted = true;
      any = true;
    } else if (c == ',') {
      record.push_back(cell);
      cell.clear();
      any = true;
    } else if (c == '\n') {
      if (any || !record.empty()) end_record();  // blank lines are skipped
      ++line;
    } else if (c != '\r') {
      cell += c;
      any = true;
    }
  }
  DV_CHECK(!quoted, "{}: line {}: a quoted cell is not closed", where, line);
  if (any || !cell.empty() || !record.empty()) end_record();
  DV_CHECK(!records.empty(), "{}: empty CSV file (expected a header line)", where);
  CsvTable t;
  t.header = records[0];
  for (size_t r = 1; r < records.size(); ++r) {
    DV_CHECK(records[r].size() == t.header.size(), "{}: row {} has {} cells, the header {}", where, r + 1,
             records[r].size(), t.header.size());
    t.rows.push_back(std::move(records[r]));
  }
  return t;
}

CsvTable read_csv(const std::string& path) { return parse_csv(read_small_file(path), path); }

}  // namespace dv
