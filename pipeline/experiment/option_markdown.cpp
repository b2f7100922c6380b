// option_markdown.cpp: see option_markdown.h.
#include "pipeline/experiment/option_markdown.h"

#include <fmt/format.h>

#include "engine/io/opt_config.h"
#include "pipeline/experiment/experiment.h"

namespace dv {

std::string option_markdown(const std::string& section, const std::vector<OptionText>& rows) {
  std::string out = "| YAML key | flag | default | values | in hash | what |\n| --- | --- | --- | --- | --- | --- |\n";
  for (const OptionText& r : rows) {
    const std::string value = r.value.empty() ? "(none)" : "`" + r.value + "`";
    const std::string key = section.empty() ? r.info.key : section + "." + r.info.key;
    const std::string flag = section.empty() ? "-" : "`" + option_flag(r.info.key) + "`";
    out += fmt::format("| `{}` | {} | {} | {} | {} | {} |\n", key, flag, value,
                       r.allowed.empty() ? r.kind : r.kind + " " + r.allowed, r.info.hashed ? "yes" : "no",
                       r.info.help);
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> all_option_markdown() {
  std::vector<std::pair<std::string, std::string>> out;
  auto add = [&](const char* name, auto visit) {
    OptionTexts t;
    visit(t);
    out.emplace_back(name, option_markdown(name, t.rows));
  };
  std::vector<std::string> shapes = opt_builtin_names();
  shapes.push_back("model");
  add("collect", [](OptionTexts& t) { visit_collect_options(kCollectDefaults, t); });
  add("train", [](OptionTexts& t) { visit_train_options(kTrainDefaults, t); });
  add("measure", [](OptionTexts& t) { visit_measure_options(kMeasureDefaults, t); });
  add("eval", [](OptionTexts& t) { visit_eval_options(kEvalDefaults, t); });
  add("bench", [&](OptionTexts& t) { visit_bench_options(kBenchDefaults, t, shapes); });
  const Experiment defaults;
  OptionTexts globals;
  visit_global_options(defaults, globals);
  out.emplace_back("experiment", option_markdown("", globals.rows));
  return out;
}

}  // namespace dv
