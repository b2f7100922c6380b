// report_test.cpp: base64 against RFC 4648's vectors and a byte sweep decoded back, CSV quoting and errors,
// the two renderings escaping what comes from files and embedding images, the perplexity-change format.
#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "engine/io/atomic_file.h"
#include "kernels/common/error.h"
#include "pipeline/report/base64.h"
#include "pipeline/report/csv_table.h"
#include "pipeline/report/report_doc.h"
#include "pipeline/report/run_summary.h"

namespace dv {
namespace {

TEST(Base64, Rfc4648Vectors) {
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("foob"), "Zm9vYg==");
  EXPECT_EQ(base64_encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
}

// Decoding by hand what the encoder wrote gives the random bytes back, at every length mod 3.
TEST(Base64, RandomBytesRoundTrip) {
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::mt19937 rng(std::random_device{}());
  for (size_t n : {1u, 2u, 3u, 4u, 5u, 97u, 256u, 1001u}) {
    std::string bytes(n, '\0');
    for (auto& b : bytes) b = static_cast<char>(rng() & 0xff);
    const std::string enc = base64_encode(bytes);
    ASSERT_EQ(enc.size() % 4, 0u);
    std::string dec;
    uint32_t acc = 0;
    int bits = 0;
    for (char c : enc) {
      if (c == '=') break;
      acc = acc << 6 | static_cast<uint32_t>(alphabet.find(c));
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        dec += static_cast<char>((acc >> bits) & 0xff);
      }
    }
    EXPECT_EQ(dec, bytes) << n;
  }
}

TEST(Csv, QuotesCommasBlankLinesAndNumbers) {
  const CsvTable t = parse_csv("name,value\n\"a, b\",1.5\n\n\"say \"\"hi\"\"\",\r\nx,nan-ish\n", "t.csv");
  ASSERT_EQ(t.rows.size(), 3u);
  EXPECT_EQ(t.rows[0][0], "a, b");
  EXPECT_EQ(t.rows[1][0], "say \"hi\"");
  EXPECT_EQ(*t.number(0, "value"), 1.5);
  EXPECT_FALSE(t.number(1, "value"));  // empty
  EXPECT_FALSE(t.number(2, "value"));  // not a number
  EXPECT_FALSE(t.number(0, "missing"));
  EXPECT_EQ(t.column("value"), 1);
}

TEST(Csv, MalformedFilesNameTheFile) {
  try {
    parse_csv("a,b\n1,2,3\n", "bad.csv");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("bad.csv: row 2 has 3 cells"), std::string::npos) << e.what();
  }
  EXPECT_THROW(parse_csv("", "empty.csv"), Error);
  EXPECT_THROW(parse_csv("a\n\"open\n", "open.csv"), Error);
  EXPECT_THROW(read_csv("/nonexistent/x.csv"), Error);
}

// Items starting with two spaces nest under the item before them; tables over 15 rows open folded and every table
// scrolls in its own box; short ones stay open.
TEST(ReportDoc, NestedItemsAndFoldedLongTables) {
  ReportDoc doc;
  doc.list({"perplexity: dense 10", "  MLP 50% kept: 10.1", "  MLP 25% kept: 10.4", "stage wall times"});
  std::string rows = "a,b\n";
  for (int i = 0; i < 16; ++i) rows += std::to_string(i) + ",x\n";
  doc.table("long", parse_csv(rows, "long.csv"));
  doc.table("short", parse_csv("a,b\n1,2\n", "short.csv"));
  const std::string html = render_html(doc, testing::TempDir());
  EXPECT_NE(html.find("<li>perplexity: dense 10<ul>\n<li>MLP 50% kept: 10.1</li>\n<li>MLP 25% kept: 10.4</li>\n</ul>\n"
                      "</li>\n<li>stage wall times</li>"),
            std::string::npos)
      << html;
  EXPECT_NE(html.find("<details><summary class=\"cap\">long (16 rows; click to open)</summary>"), std::string::npos);
  EXPECT_NE(html.find("<div class=\"cap\">short</div>\n<div class=\"wide\"><table>"), std::string::npos);
  const std::string md = render_markdown(doc);
  EXPECT_NE(md.find("- perplexity: dense 10\n  - MLP 50% kept: 10.1\n  - MLP 25% kept: 10.4\n- stage wall times\n"),
            std::string::npos)
      << md;
}

TEST(ReportDoc, HtmlEscapesFileTextAndEmbedsImages) {
  const std::string dir = testing::TempDir() + "/report_doc_" + std::to_string(::getpid());
  std::filesystem::create_directories(dir + "/eval");
  const std::string png("\x89PNG\r\n\x1a\n\0\1\2", 11);
  write_file_atomic(dir + "/eval/eval.png", png);
  ReportDoc doc;
  doc.heading(1, "run <x>");
  doc.table("t", parse_csv("a|b,c\n<script>,2\n", "t.csv"));
  doc.code("config", "key: \"v\" & more");
  doc.image("eval/eval.png", "eval/eval.png");
  doc.image("missing", "eval/none.png");
  const std::string html = render_html(doc, dir);
  EXPECT_EQ(html.find("<script>"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;"), std::string::npos);
  EXPECT_NE(html.find("key: &quot;v&quot; &amp; more"), std::string::npos);
  EXPECT_NE(html.find("src=\"data:image/png;base64," + base64_encode(png) + "\""), std::string::npos);
  EXPECT_NE(html.find("eval/none.png could not be read"), std::string::npos);
  EXPECT_NE(html.find("<td class=\"n\">2</td>"), std::string::npos);
  const std::string md = render_markdown(doc);
  EXPECT_NE(md.find("# run <x>"), std::string::npos);
  EXPECT_NE(md.find("| a\\|b | c |"), std::string::npos);
  EXPECT_NE(md.find("![eval/eval.png](eval/eval.png)"), std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST(RunSummary, PerplexityChangeFormat) {
  EXPECT_EQ(ppl_change(1.0100585), "+1.0%");
  EXPECT_EQ(ppl_change(0.999734), "-0.03%");
  EXPECT_EQ(ppl_change(1.0), "+0.0%");
  EXPECT_EQ(ppl_change(2.38), "x2.4");
}

}  // namespace
}  // namespace dv
