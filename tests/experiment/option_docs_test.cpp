// option_docs_test.cpp: each stage README's option table is the one made from the stage's option table
// (pipeline/experiment/option_markdown.h), between <!-- options:SECTION --> and <!-- /options -->, so the docs
// cannot drift from the code. DEJAVU_WRITE_OPTION_DOCS=1 rewrites the READMEs' tables instead of checking them.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "pipeline/experiment/option_markdown.h"

namespace dv {
namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(OptionDocs, EveryStageReadmeHoldsItsGeneratedOptionTable) {
  const char* root_env = std::getenv("DEJAVU_SOURCE_DIR");
  const std::string root = root_env != nullptr ? root_env : ".";
  const bool write = std::getenv("DEJAVU_WRITE_OPTION_DOCS") != nullptr;
  for (const auto& [section, table] : all_option_markdown()) {
    const std::string path = root + "/pipeline/" + section + "/README.md";
    std::string text = read_text(path);
    const std::string begin = "<!-- options:" + section + " -->\n", end = "<!-- /options -->";
    const size_t a = text.find(begin);
    ASSERT_NE(a, std::string::npos) << path << " has no " << begin;
    const size_t b = text.find(end, a);
    ASSERT_NE(b, std::string::npos) << path << " has no " << end << " after " << begin;
    const std::string have = text.substr(a + begin.size(), b - a - begin.size());
    if (write) {
      text.replace(a + begin.size(), b - a - begin.size(), table);
      std::ofstream(path, std::ios::binary) << text;
      continue;
    }
    EXPECT_EQ(have, table) << path << ": the option table differs from the code's (run experiment_tests with "
                           << "DEJAVU_WRITE_OPTION_DOCS=1 to rewrite it)";
  }
}

}  // namespace
}  // namespace dv
