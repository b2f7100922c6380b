// report_doc.cpp: Markdown and HTML renderings of the same blocks. Everything from the run's files is
// escaped (a CSV cell or a config value is text, never markup).
#include "pipeline/report/report_doc.h"

#include <algorithm>
#include <filesystem>

#include <fmt/format.h>

#include "engine/io/atomic_file.h"
#include "kernels/common/error.h"
#include "pipeline/report/base64.h"

namespace dv {
namespace {

std::string md_cell(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '|') out += "\\|";
    else if (c == '\n') out += ' ';
    else out += c;
  }
  return out;
}

std::string html_escape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

// A cell that reads as a number is right-aligned, as numbers are compared by their digits.
bool numeric(const std::string& s) {
  if (s.empty()) return false;
  char* end = nullptr;
  std::strtod(s.c_str(), &end);
  return end == s.c_str() + s.size();
}

// Tables longer than this and code longer than kCollapseLines open folded (<details>) in the HTML, so that the
// plots and the short tables of later sections are not pages further down; Markdown keeps them as they are.
constexpr size_t kCollapseRows = 15;
constexpr size_t kCollapseLines = 25;

// A list item that starts with two spaces is nested under the item before it (the summary's per-point lines).
bool nested(const std::string& item) { return item.rfind("  ", 0) == 0; }
std::string unindented(const std::string& item) { return nested(item) ? item.substr(item.find_first_not_of(' ')) : item; }

// A block of markup opened folded under a caption when large, else the caption above it.
std::string folded(const std::string& caption, const std::string& size, bool fold, const std::string& body) {
  if (!fold) return (caption.empty() ? "" : "<div class=\"cap\">" + html_escape(caption) + "</div>\n") + body;
  return fmt::format("<details><summary class=\"cap\">{} ({}; click to open)</summary>\n{}</details>\n",
                     html_escape(caption.empty() ? "table" : caption), size, body);
}

constexpr const char* kStyle =
    "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1100px;margin:2em auto;"
    "padding:0 1em;color:#1b1b1b;line-height:1.45}"
    "table{border-collapse:collapse;margin:.5em 0 1.2em;font-size:.86em}"
    "th,td{border:1px solid #ccc;padding:.2em .55em}th{background:#f0f0f0}td.n{text-align:right;"
    "font-variant-numeric:tabular-nums}"
    "pre{background:#f6f6f6;padding:.6em;overflow-x:auto;font-size:.85em}"
    "img{max-width:100%;border:1px solid #ddd}h1{border-bottom:2px solid #333}h2{border-bottom:1px solid #aaa;"
    "margin-top:1.8em}.cap{font-weight:600;margin:.8em 0 .2em}"
    // Wide tables scroll inside their own box instead of running off the page's right edge.
    ".wide{overflow-x:auto;max-width:100%}details{margin:.4em 0 1em}summary{cursor:pointer}"
    "ul ul{margin:.15em 0 .3em 1.6em;padding-left:1em;list-style:circle}";

}  // namespace

void ReportDoc::heading(int level, const std::string& text) {
  ReportBlock b;
  b.kind = ReportBlock::Kind::kHeading;
  b.level = level;
  b.text = text;
  blocks_.push_back(std::move(b));
}

void ReportDoc::text(const std::string& text) {
  ReportBlock b;
  b.text = text;
  blocks_.push_back(std::move(b));
}

void ReportDoc::list(std::vector<std::string> items) {
  ReportBlock b;
  b.kind = ReportBlock::Kind::kList;
  b.items = std::move(items);
  blocks_.push_back(std::move(b));
}

void ReportDoc::table(const std::string& caption, CsvTable table) {
  ReportBlock b;
  b.kind = ReportBlock::Kind::kTable;
  b.text = caption;
  b.table = std::move(table);
  blocks_.push_back(std::move(b));
}

void ReportDoc::code(const std::string& caption, const std::string& text) {
  ReportBlock b;
  b.kind = ReportBlock::Kind::kCode;
  b.items = {caption};
  b.text = text;
  blocks_.push_back(std::move(b));
}

void ReportDoc::image(const std::string& caption, const std::string& relative_path) {
  ReportBlock b;
  b.kind = ReportBlock::Kind::kImage;
  b.text = caption;
  b.image = relative_path;
  blocks_.push_back(std::move(b));
}

std::string render_markdown(const ReportDoc& doc) {
  std::string out;
  for (const ReportBlock& b : doc.blocks()) {
    switch (b.kind) {
      case ReportBlock::Kind::kHeading: out += std::string(b.level, '#') + " " + b.text + "\n\n"; break;
      case ReportBlock::Kind::kText: out += b.text + "\n\n"; break;
      case ReportBlock::Kind::kList:
        for (const auto& item : b.items) out += (nested(item) ? "  - " : "- ") + unindented(item) + "\n";
        out += "\n";
        break;
      case ReportBlock::Kind::kTable: {
        if (!b.text.empty()) out += "**" + b.text + "**\n\n";
        std::string head = "|", rule = "|";
        for (const auto& h : b.table.header) {
          head += " " + md_cell(h) + " |";
          rule += " --- |";
        }
        out += head + "\n" + rule + "\n";
        for (const auto& row : b.table.rows) {
          out += "|";
          for (const auto& c : row) out += " " + md_cell(c) + " |";
          out += "\n";
        }
        out += "\n";
        break;
      }
      case ReportBlock::Kind::kCode:
        if (!b.items.empty() && !b.items[0].empty()) out += "**" + b.items[0] + "**\n\n";
        out += "```\n" + b.text + (b.text.empty() || b.text.back() == '\n' ? "" : "\n") + "```\n\n";
        break;
      case ReportBlock::Kind::kImage: out += fmt::format("![{}]({})\n\n", b.text, b.image); break;
    }
  }
  return out;
}

std::string render_html(const ReportDoc& doc, const std::string& run_dir) {
  std::string title = "dejavu run report";
  for (const ReportBlock& b : doc.blocks())
    if (b.kind == ReportBlock::Kind::kHeading && b.level == 1) {
      title = b.text;
      break;
    }
  std::string out = fmt::format(
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n"
      "<style>{}</style>\n</head>\n<body>\n",
      html_escape(title), kStyle);
  for (const ReportBlock& b : doc.blocks()) {
    switch (b.kind) {
      case ReportBlock::Kind::kHeading:
        out += fmt::format("<h{0}>{1}</h{0}>\n", b.level, html_escape(b.text));
        break;
      case ReportBlock::Kind::kText: out += "<p>" + html_escape(b.text) + "</p>\n"; break;
      case ReportBlock::Kind::kList: {
        // Nested items go into a <ul> inside the item before them (HTML nests lists only inside an item).
        out += "<ul>\n";
        bool open_item = false, in_sub = false;
        for (const auto& item : b.items) {
          if (nested(item) && open_item) {
            if (!in_sub) out += "<ul>\n";
            in_sub = true;
            out += "<li>" + html_escape(unindented(item)) + "</li>\n";
            continue;
          }
          if (in_sub) out += "</ul>\n";
          if (open_item) out += "</li>\n";
          in_sub = false;
          out += "<li>" + html_escape(unindented(item));
          open_item = true;
        }
        if (in_sub) out += "</ul>\n";
        if (open_item) out += "</li>\n";
        out += "</ul>\n";
        break;
      }
      case ReportBlock::Kind::kTable: {
        std::string body = "<div class=\"wide\"><table>\n<tr>";
        for (const auto& h : b.table.header) body += "<th>" + html_escape(h) + "</th>";
        body += "</tr>\n";
        for (const auto& row : b.table.rows) {
          body += "<tr>";
          for (const auto& c : row) body += (numeric(c) ? "<td class=\"n\">" : "<td>") + html_escape(c) + "</td>";
          body += "</tr>\n";
        }
        body += "</table></div>\n";
        out += folded(b.text, fmt::format("{} rows", b.table.rows.size()), b.table.rows.size() > kCollapseRows, body);
        break;
      }
      case ReportBlock::Kind::kCode: {
        const std::string caption = b.items.empty() ? "" : b.items[0];
        const size_t lines = static_cast<size_t>(std::count(b.text.begin(), b.text.end(), '\n'));
        out += folded(caption, fmt::format("{} lines", lines), lines > kCollapseLines, "<pre>" + html_escape(b.text) + "</pre>\n");
        break;
      }
      case ReportBlock::Kind::kImage: {
        const std::string path = (std::filesystem::path(run_dir) / b.image).string();
        std::string bytes;
        try {
          bytes = read_small_file(path);
        } catch (const Error&) {
          out += "<p>(" + html_escape(b.image) + " could not be read)</p>\n";
          break;
        }
        out += fmt::format("<figure><img alt=\"{0}\" src=\"data:image/png;base64,{1}\"><figcaption>{0}"
                           "</figcaption></figure>\n",
                           html_escape(b.text), base64_encode(bytes));
        break;
      }
    }
  }
  out += "</body>\n</html>\n";
  return out;
}

}  // namespace dv
