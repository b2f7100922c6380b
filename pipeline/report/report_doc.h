// report_doc.h: a run report as a list of blocks (headings, text, lists, tables, code, images) and its two
// renderings: report.md (images linked by their path relative to the run folder) and a self-contained
// report.html (inline style, images embedded as base64 data URIs: no file or network reference, so the one
// file can be mailed or attached as it is).
#pragma once

#include <string>
#include <vector>

#include "pipeline/report/csv_table.h"

namespace dv {

struct ReportBlock {
  enum class Kind { kHeading, kText, kList, kTable, kCode, kImage };
  Kind kind = Kind::kText;
  int level = 2;                   // heading level (1 = the title)
  std::string text;                // heading, paragraph, code, image caption, table caption
  std::vector<std::string> items;  // list entries
  CsvTable table;
  std::string image;               // image path relative to the run folder
};

class ReportDoc {
 public:
  void heading(int level, const std::string& text);
  void text(const std::string& text);
  void list(std::vector<std::string> items);
  void table(const std::string& caption, CsvTable table);
  void code(const std::string& caption, const std::string& text);
  void image(const std::string& caption, const std::string& relative_path);
  const std::vector<ReportBlock>& blocks() const { return blocks_; }

 private:
  std::vector<ReportBlock> blocks_;
};

std::string render_markdown(const ReportDoc& doc);
// Reads each image from run_dir; an unreadable image becomes a line saying so, not an error.
std::string render_html(const ReportDoc& doc, const std::string& run_dir);

}  // namespace dv
