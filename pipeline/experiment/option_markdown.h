// option_markdown.h: a section's option table as the Markdown table each stage README holds between
// <!-- options:SECTION --> and <!-- /options --> (tests/experiment checks that the README's copy is this).
#pragma once

#include <string>
#include <vector>

#include "pipeline/experiment/option_text.h"

namespace dv {

// | YAML key | flag | default | values | in hash | what |; flags are the key with '-' for '_' (commands that
// take the option: the stage's README says which). An empty section: the top-level keys, which no command takes
// as flags of the same meaning (flag column "-").
std::string option_markdown(const std::string& section, const std::vector<OptionText>& rows);

// The tables by the folder whose README holds them (pipeline/<folder>/README.md, between
// <!-- options:<folder> --> and <!-- /options -->): collect, train, measure, eval, bench, and experiment (the
// top-level keys).
std::vector<std::pair<std::string, std::string>> all_option_markdown();

}  // namespace dv
