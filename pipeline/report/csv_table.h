// csv_table.h: the stages' CSV results (eval.csv, measure_layers.csv, metrics.csv, ...) read back as a
// header and rows of cells, for the run report and the end-of-run summary. RFC 4180 quoting is understood
// (the stages write none, other tools may); a row whose cell count differs from the header's is an error.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace dv {

struct CsvTable {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;

  // Index of a column by name, or -1.
  int column(const std::string& name) const;
  // The cell as a number; nullopt when the column is missing or the cell is empty or not a number.
  std::optional<double> number(size_t row, const std::string& name) const;
  const std::string& cell(size_t row, const std::string& name) const;  // "" when the column is missing
};

// dv::Error naming the file (and line) when it cannot be read or is malformed.
CsvTable read_csv(const std::string& path);
CsvTable parse_csv(const std::string& text, const std::string& where);

}  // namespace dv
