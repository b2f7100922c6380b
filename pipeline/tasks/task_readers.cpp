// task_readers.cpp: one reader per public task layout, each applying lm-eval-harness's prompt template for
// that task (quoted beside each reader). Records are JSON Lines (the original releases and Hugging Face's
// `Dataset.to_json`) or one JSON array; labels are accepted as the original strings or the HF integers.
#include "pipeline/tasks/task_docs.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <functional>
#include <regex>
#include <sstream>

#include <nlohmann/json.hpp>

#include "kernels/common/error.h"

namespace dv {
namespace {

using nlohmann::json;

// One record and where it came from, for messages ("file:line: ...").
struct Record {
  const json& j;
  const std::string& where;
  [[noreturn]] void fail(const std::string& what) const { DV_FAIL("{}: {}", where, what); }
  const json& field(const char* key) const {
    if (!j.is_object()) fail("expected a JSON object per record");
    auto it = j.find(key);
    if (it == j.end()) fail(fmt::format("field '{}' is missing", key));
    return *it;
  }
  std::string str(const char* key) const {
    const json& v = field(key);
    if (!v.is_string()) fail(fmt::format("field '{}' must be a string, got {}", key, v.dump()));
    return v.get<std::string>();
  }
  bool has(const char* key) const { return j.is_object() && j.contains(key); }
  // An integer label, or one of `names` (the original release's strings, or their index as a string).
  int label(const char* key, const std::vector<std::string>& names) const {
    const json& v = field(key);
    if (v.is_number_integer()) {
      const int i = v.get<int>();
      if (i >= 0 && i < static_cast<int>(names.size())) return i;
    } else if (v.is_string()) {
      const std::string s = v.get<std::string>();
      for (size_t i = 0; i < names.size(); ++i)
        if (s == names[i] || s == std::to_string(i)) return static_cast<int>(i);
    }
    std::string allowed;
    for (size_t i = 0; i < names.size(); ++i) allowed += fmt::format("{}{} or \"{}\"", i ? ", " : "", i, names[i]);
    fail(fmt::format("field '{}' must be {}, got {}", key, allowed, v.dump()));
  }
};

// Python's str.strip() / rstrip() over ASCII whitespace (the task files are ASCII or UTF-8 prose).
bool is_space(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }
std::string strip(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && is_space(s[b])) ++b;
  while (e > b && is_space(s[e - 1])) --e;
  return s.substr(b, e - b);
}

// Python len(str): code points of UTF-8 text.
double code_points(const std::string& s) {
  return static_cast<double>(std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size())) s.replace(p, from.size(), to);
  return s;
}

// Choices in the continuation: (ctx, " " + choice) for each choice (lm-eval's default target_delimiter " ").
TaskDoc choice_doc(const std::string& ctx, const std::vector<std::string>& choices, int gold) {
  TaskDoc d;
  for (const auto& c : choices) {
    d.requests.push_back({ctx, " " + c});
    d.choice_lengths.push_back(code_points(c));
  }
  d.gold = gold;
  return d;
}

// super_glue/cb/default.yaml: "{{premise}}\nQuestion: {{hypothesis}}. True, False, or Neither?\nAnswer:"
TaskDoc read_cb(const Record& r) {
  const int gold = r.label("label", {"entailment", "contradiction", "neutral"});
  return choice_doc(r.str("premise") + "\nQuestion: " + r.str("hypothesis") + ". True, False, or Neither?\nAnswer:",
                    {"True", "False", "Neither"}, gold);
}

// super_glue/rte/default.yaml: "{{premise}}\nQuestion: {{hypothesis}} True or False?\nAnswer:"
TaskDoc read_rte(const Record& r) {
  const int gold = r.label("label", {"entailment", "not_entailment"});
  return choice_doc(r.str("premise") + "\nQuestion: " + r.str("hypothesis") + " True or False?\nAnswer:",
                    {"True", "False"}, gold);
}

// super_glue/copa/utils.py: premise.strip()[:-1] + " because"/" therefore"; choices " " + first letter lowered.
TaskDoc read_copa(const Record& r) {
  const int question = r.label("question", {"cause", "effect"});
  std::string premise = strip(r.str("premise"));
  if (premise.empty()) r.fail("field 'premise' is empty");
  size_t cut = premise.size() - 1;  // drop the last code point (the full stop)
  while (cut > 0 && (premise[cut] & 0xC0) == 0x80) --cut;
  premise.resize(cut);
  auto convert = [&](const char* key) {
    std::string c = r.str(key);
    if (c.empty()) r.fail(fmt::format("field '{}' is empty", key));
    c[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(c[0])));
    return " " + c;
  };
  return choice_doc(premise + (question == 0 ? " because" : " therefore"), {convert("choice1"), convert("choice2")},
                    r.label("label", {"0", "1"}));
}

// hellaswag/utils.py: preprocess() of the query and of each ending.
std::string hellaswag_preprocess(const std::string& text) {
  static const std::regex brackets("\\[.*?\\]");
  std::string t = replace_all(strip(text), " [title]", ". ");
  t = std::regex_replace(t, brackets, "");
  return replace_all(t, "  ", " ");
}

// Python's str.capitalize() for ASCII: the first letter upper, every other letter lower.
std::string capitalize(std::string s) {
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    s[i] = static_cast<char>(i == 0 ? std::toupper(c) : std::tolower(c));
  }
  return s;
}

// hellaswag/utils.py: query = preprocess(activity_label + ": " + ctx_a + " " + ctx_b.capitalize()).
TaskDoc read_hellaswag(const Record& r) {
  const json& endings = r.field("endings");
  if (!endings.is_array() || endings.size() < 2) r.fail("field 'endings' must be a list of at least 2 strings");
  std::vector<std::string> choices;
  std::vector<std::string> names;
  for (const json& e : endings) {
    if (!e.is_string()) r.fail("field 'endings' must hold strings");
    choices.push_back(hellaswag_preprocess(e.get<std::string>()));
    names.push_back(std::to_string(names.size()));
  }
  const std::string ctx = r.str("ctx_a") + " " + capitalize(r.str("ctx_b"));
  return choice_doc(hellaswag_preprocess(r.str("activity_label") + ": " + ctx), choices, r.label("label", names));
}

// openbookqa/openbookqa.yaml: question_stem, choices.text, gold = choices.label.index(answerKey.lstrip()).
// The original release nests them: {"question": {"stem", "choices": [{"text", "label"}]}, "answerKey"}.
TaskDoc read_openbookqa(const Record& r) {
  std::string stem;
  std::vector<std::string> texts, labels;
  auto text_of = [&](const json& v, const char* what) {
    if (!v.is_string()) r.fail(fmt::format("{} must be a string, got {}", what, v.dump()));
    return v.get<std::string>();
  };
  if (r.has("question_stem")) {  // Hugging Face layout
    stem = r.str("question_stem");
    const json& c = r.field("choices");
    if (!c.is_object() || !c.contains("text") || !c.contains("label") || !c["text"].is_array() ||
        !c["label"].is_array() || c["text"].size() != c["label"].size())
      r.fail("field 'choices' must be {\"text\": [...], \"label\": [...]} of equal lengths");
    for (size_t i = 0; i < c["text"].size(); ++i) {
      texts.push_back(text_of(c["text"][i], "choices.text[i]"));
      labels.push_back(text_of(c["label"][i], "choices.label[i]"));
    }
  } else {  // original release
    const json& q = r.field("question");
    if (!q.is_object() || !q.contains("stem") || !q.contains("choices") || !q["choices"].is_array())
      r.fail("field 'question' must be {\"stem\": ..., \"choices\": [{\"text\", \"label\"}, ...]}");
    stem = text_of(q["stem"], "question.stem");
    for (const json& c : q["choices"]) {
      if (!c.is_object() || !c.contains("text") || !c.contains("label")) r.fail("each question.choices entry needs text and label");
      texts.push_back(text_of(c["text"], "question.choices[i].text"));
      labels.push_back(text_of(c["label"], "question.choices[i].label"));
    }
  }
  std::string key = r.str("answerKey");
  key.erase(0, key.find_first_not_of(" \t\n\r"));
  const auto it = std::find(labels.begin(), labels.end(), key);
  if (it == labels.end()) r.fail(fmt::format("answerKey \"{}\" is not one of the choice labels", key));
  return choice_doc(stem, texts, static_cast<int>(it - labels.begin()));
}

// piqa/piqa.yaml: "Question: {{goal}}\nAnswer:", choices [sol1, sol2]. The original release keeps the labels
// in a separate file (valid.jsonl + valid-labels.lst): `label_line` is that file's line for this record.
TaskDoc read_piqa(const Record& r, const std::string* label_line) {
  int gold = 0;
  if (r.has("label")) {
    gold = r.label("label", {"0", "1"});
  } else {
    if (label_line == nullptr) r.fail("no field 'label' and no <stem>-labels.lst beside the file");
    const std::string l = strip(*label_line);
    if (l != "0" && l != "1") r.fail(fmt::format("its line in the labels file must be 0 or 1, got \"{}\"", l));
    gold = l == "1";
  }
  return choice_doc("Question: " + r.str("goal") + "\nAnswer:", {r.str("sol1"), r.str("sol2")}, gold);
}

// winogrande/preprocess_winogrande.py (partial scoring): each option fills the blank in the context,
// the shared rest of the sentence after the blank is the continuation.
TaskDoc read_winogrande(const Record& r) {
  const std::string sentence = r.str("sentence");
  const size_t blank = sentence.find('_');
  if (blank == std::string::npos) r.fail("field 'sentence' has no '_' blank");
  const std::string target = strip(sentence.substr(blank + 1));
  TaskDoc d;
  for (const char* key : {"option1", "option2"}) {
    const std::string choice = sentence.substr(0, blank) + r.str(key);
    d.requests.push_back({choice, " " + target});
    d.choice_lengths.push_back(code_points(choice));
  }
  d.gold = r.label("answer", {"1", "2"});
  return d;
}

// lambada/lambada_openai.yaml: context = text.split(' ')[:-1] joined, continuation = ' ' + the last word.
TaskDoc read_lambada(const Record& r) {
  const std::string text = r.str("text");
  const size_t cut = text.rfind(' ');
  if (cut == std::string::npos || cut == 0 || cut + 1 == text.size())
    r.fail("field 'text' needs a context, a space and a last word");
  TaskDoc d;
  d.requests.push_back({text.substr(0, cut), text.substr(cut)});
  d.choice_lengths.push_back(code_points(text.substr(cut + 1)));
  return d;
}

// Generic: {"context": str, "choices": [str, ...], "gold": int}; each choice is scored as " " + choice.
TaskDoc read_generic(const Record& r) {
  const json& c = r.field("choices");
  if (!c.is_array() || c.size() < 2) r.fail("field 'choices' must be a list of at least 2 strings");
  std::vector<std::string> choices;
  for (const json& e : c) {
    if (!e.is_string()) r.fail("field 'choices' must hold strings");
    choices.push_back(e.get<std::string>());
  }
  const json& g = r.field("gold");
  if (!g.is_number_integer() || g.get<int64_t>() < 0 || g.get<int64_t>() >= static_cast<int64_t>(choices.size()))
    r.fail(fmt::format("field 'gold' must be an index into choices (0..{}), got {}", choices.size() - 1, g.dump()));
  return choice_doc(r.str("context"), choices, g.get<int>());
}

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  DV_CHECK(in.good(), "{}: cannot open task file", path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(std::move(line));
  }
  return lines;
}

}  // namespace

const std::vector<std::string>& task_formats() {
  static const std::vector<std::string> names = {"cb",   "copa", "hellaswag", "lambada", "openbookqa",
                                                 "piqa", "rte",  "winogrande", "jsonl"};
  return names;
}

Task read_task(const std::string& name, const std::string& format, const std::string& file, int64_t max_docs) {
  const auto& formats = task_formats();
  DV_CHECK(std::find(formats.begin(), formats.end(), format) != formats.end(),
           "{}: unknown task format '{}' (cb, copa, hellaswag, lambada, openbookqa, piqa, rte, winogrande, jsonl)",
           file, format);
  std::error_code ec;
  DV_CHECK(std::filesystem::is_regular_file(file, ec), "{}: no such task file", file);
  Task t;
  t.name = name.empty() ? format : name;
  t.format = format;
  t.file = file;
  t.kind = format == "lambada" ? TaskKind::kLastWord : TaskKind::kMultipleChoice;
  t.report_acc_norm = format == "hellaswag" || format == "openbookqa" || format == "piqa" || format == "jsonl";
  t.report_f1 = format == "cb";

  std::vector<std::string> piqa_labels;
  const std::filesystem::path p(file);
  const std::string labels_file = (p.parent_path() / (p.stem().string() + "-labels.lst")).string();
  if (format == "piqa" && std::filesystem::is_regular_file(labels_file, ec)) piqa_labels = read_lines(labels_file);

  // Records: a JSON array file, or JSON Lines (blank lines skipped); each with its place for messages.
  std::vector<std::pair<json, std::string>> records;
  const std::vector<std::string> lines = read_lines(file);
  const auto first = std::find_if(lines.begin(), lines.end(), [](const std::string& l) { return !strip(l).empty(); });
  DV_CHECK(first != lines.end(), "{}: the task file is empty", file);
  if (strip(*first)[0] == '[') {
    std::ifstream in(file, std::ios::binary);
    json all = json::parse(in, nullptr, /*allow_exceptions=*/false);
    DV_CHECK(!all.is_discarded() && all.is_array(), "{}: not valid JSON (expected a JSON array of records)", file);
    for (size_t i = 0; i < all.size(); ++i) records.emplace_back(std::move(all[i]), fmt::format("{}: record {}", file, i));
  } else {
    for (size_t i = 0; i < lines.size(); ++i) {
      if (strip(lines[i]).empty()) continue;
      json j = json::parse(lines[i], nullptr, /*allow_exceptions=*/false);
      DV_CHECK(!j.is_discarded(), "{}:{}: not valid JSON", file, i + 1);
      records.emplace_back(std::move(j), fmt::format("{}:{}", file, i + 1));
    }
  }
  DV_CHECK(piqa_labels.empty() || piqa_labels.size() >= records.size(), "{}: {} labels for {} records", labels_file,
           piqa_labels.size(), records.size());
  for (size_t i = 0; i < records.size(); ++i) {
    if (max_docs > 0 && static_cast<int64_t>(t.docs.size()) >= max_docs) break;
    const Record r{records[i].first, records[i].second};
    if (format == "cb") t.docs.push_back(read_cb(r));
    else if (format == "copa") t.docs.push_back(read_copa(r));
    else if (format == "hellaswag") t.docs.push_back(read_hellaswag(r));
    else if (format == "lambada") t.docs.push_back(read_lambada(r));
    else if (format == "openbookqa") t.docs.push_back(read_openbookqa(r));
    else if (format == "piqa") t.docs.push_back(read_piqa(r, piqa_labels.empty() ? nullptr : &piqa_labels[i]));
    else if (format == "rte") t.docs.push_back(read_rte(r));
    else if (format == "winogrande") t.docs.push_back(read_winogrande(r));
    else t.docs.push_back(read_generic(r));
  }
  DV_CHECK(!t.docs.empty(), "{}: no records", file);
  return t;
}

TaskSpec parse_task_spec(const std::string& spec) {
  const size_t eq = spec.find('=');
  DV_CHECK(eq != std::string::npos && eq > 0 && eq + 1 < spec.size(),
           "--task {}: expected FORMAT=FILE or NAME:FORMAT=FILE", spec);
  TaskSpec s;
  s.file = spec.substr(eq + 1);
  const std::string head = spec.substr(0, eq);
  const size_t colon = head.find(':');
  s.format = colon == std::string::npos ? head : head.substr(colon + 1);
  s.name = colon == std::string::npos ? head : head.substr(0, colon);
  DV_CHECK(!s.name.empty() && !s.format.empty(), "--task {}: expected FORMAT=FILE or NAME:FORMAT=FILE", spec);
  return s;
}

}  // namespace dv
