// option_markdown.h: a section's option table as the Markdown table each stage README holds between
// <!-- options:SECTION --> and <!-- /options --> (tests/experiment checks that the README's copy is this).
#pragma once

#include <string>
#include <vector>

#include "pipeline/experiment/option_text.h"

namespace dv {

// | YAML key | flag | default | values | in hash | what |; flags are the key with '-' for '_' (commands that
// take the option: the stage's README says which).
std::string option_markdown(const std::string& section, const std::vector<OptionText>& rows);

// The tables of every section, by section name: collect, train, measure, eval, bench.
std::vector<std::pair<std::string, std::string>> all_option_markdown();

}  // namespace dv
