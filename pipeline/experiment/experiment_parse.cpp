// experiment_parse.cpp: YAML -> Experiment, with every check that can name a key: types,
// ranges, allowed names, empty or repeated sweep values, unknown keys, required fields of the
// stages that run, and the files they name (model directory, text files).
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "engine/io/opt_config.h"
#include "kernels/common/error.h"
#include "pipeline/experiment/experiment.h"
#include "pipeline/experiment/yaml_fields.h"
#include "pipeline/experiment/yaml_syntax.h"

namespace dv {

namespace {

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

// Typed readers of the keys read by hand (name, output_dir, a task entry): each leaves `out` at its default
// when the key is absent; the checks every option reader shares.
class SectionReader {
 public:
  explicit SectionReader(YamlField f) : s_(std::move(f)) {}
  YamlSection& section() { return s_; }

  std::optional<YamlField> string(const char* key, std::string& out) {
    auto f = s_.take(key);
    if (f) {
      out = yaml_string(*f);
      if (out.empty()) f->fail("must not be empty");
    }
    return f;
  }
  void choice(const char* key, std::string& out, const std::vector<std::string>& allowed) {
    if (auto f = s_.take(key)) out = checked_choice(*f, allowed);
  }
  static int64_t checked_int(const YamlField& f, int64_t lo, int64_t hi) {
    const int64_t v = yaml_int(f);
    if (v < lo) f.fail(fmt::format("must be >= {}, got {}", lo, v));
    if (v > hi) f.fail(fmt::format("must be <= {}, got {}", hi, v));
    return v;
  }
  static double checked_number(const YamlField& f, double lo, double hi, bool lo_open, bool hi_open) {
    const double v = yaml_number(f);
    if ((lo_open ? v <= lo : v < lo) || (hi_open ? v >= hi : v > hi)) {
      f.fail(fmt::format("must be in {}{}, {}{}, got {}", lo_open ? "(" : "[", lo, hi, hi_open ? ")" : "]", v));
    }
    return v;
  }
  static std::string checked_choice(const YamlField& f, const std::vector<std::string>& allowed) {
    std::string v = yaml_string(f);
    if (std::find(allowed.begin(), allowed.end(), v) == allowed.end()) {
      f.fail(fmt::format("expected one of {}, got \"{}\"", join(allowed), v));
    }
    return v;
  }

 private:
  YamlSection s_;
};

// The elements of a list read one by one; a value listed twice is an error at its second place.
template <class Read>
auto unique(const YamlField& f, Read read) {
  std::vector<decltype(read(f))> out;
  for (const YamlField& e : yaml_list(f)) {
    auto v = read(e);
    if (std::find(out.begin(), out.end(), v) != out.end()) {
      if constexpr (std::is_same_v<decltype(v), std::string>) {
        e.fail(fmt::format("'{}' is listed twice", v));
      } else {
        e.fail(fmt::format("{} is listed twice", v));
      }
    }
    out.push_back(std::move(v));
  }
  return out;
}

// Reads a section through its option table: each option present is read with its type, range and choices and
// kept with its position (spot) for the checks that come later (files, seq_len against the model).
class ReadOptions {
 public:
  ReadOptions(SectionReader& r, bool check_files) : r_(r), check_files_(check_files) {}

  void integer(int64_t& v, const OptionInfo& info, IntRange range) {
    if (auto f = take(info)) v = SectionReader::checked_int(*f, range.lo, range.hi);
  }
  void number(double& v, const OptionInfo& info, Interval in) {
    if (auto f = take(info)) v = SectionReader::checked_number(*f, in.lo, in.hi, in.lo_open, in.hi_open);
  }
  void boolean(bool& v, const OptionInfo& info) {
    if (auto f = take(info)) v = yaml_bool(*f);
  }
  void text(std::string& v, const OptionInfo& info) {
    if (auto f = take(info)) {
      v = yaml_string(*f);
      if (v.empty()) f->fail("must not be empty");
    }
  }
  void choice(std::string& v, const OptionInfo& info, const std::vector<std::string>& allowed) {
    if (auto f = take(info)) v = SectionReader::checked_choice(*f, allowed);
  }
  void device(std::string& v, const OptionInfo& info) {
    if (auto f = take(info)) {
      v = yaml_string(*f);
      if (!is_device_name(v)) f->fail(fmt::format("expected one of cpu, cuda, cuda:N, auto, got \"{}\"", v));
    }
  }
  void numbers(std::vector<double>& v, const OptionInfo& info, Interval in) {
    if (auto f = take(info)) v = unique(*f, [&](const YamlField& e) {
      return SectionReader::checked_number(e, in.lo, in.hi, in.lo_open, in.hi_open);
    });
  }
  void integers(std::vector<int64_t>& v, const OptionInfo& info, IntRange range) {
    if (auto f = take(info))
      v = unique(*f, [&](const YamlField& e) { return SectionReader::checked_int(e, range.lo, range.hi); });
  }
  void choices(std::vector<std::string>& v, const OptionInfo& info, const std::vector<std::string>& allowed) {
    if (auto f = take(info))
      v = unique(*f, [&](const YamlField& e) { return SectionReader::checked_choice(e, allowed); });
  }
  void layer_list(std::vector<int64_t>& v, const OptionInfo& info) {
    auto f = take(info);
    if (!f) return;
    v.clear();
    if (f->node.IsScalar() && f->node.Scalar() == "all") return;
    if (!f->node.IsSequence()) f->fail(fmt::format("expected \"all\" or a list of layer numbers, got {}", yaml_describe(f->node)));
    v = unique(*f, [](const YamlField& e) { return SectionReader::checked_int(e, 0, 998); });
  }
  void task_list(std::vector<EvalTaskSpec>& v, const OptionInfo& info) {
    auto f = take(info);
    if (!f) return;
    for (const YamlField& item : yaml_list(*f)) {
      SectionReader t(item);
      EvalTaskSpec spec;
      // The readers of pipeline/tasks (task_formats()); this library stays free of them.
      t.choice("format", spec.format, {"cb", "copa", "hellaswag", "lambada", "openbookqa", "piqa", "rte", "winogrande", "jsonl"});
      if (spec.format.empty()) item.fail("needs format: (cb, copa, hellaswag, lambada, openbookqa, piqa, rte, winogrande, jsonl)");
      if (!t.string("name", spec.name)) spec.name = spec.format;
      const auto file = t.string("file", spec.file);
      if (!file) item.fail("needs file: the task file");
      std::error_code ec;
      if (check_files_ && !std::filesystem::is_regular_file(spec.file, ec))
        file->fail(fmt::format("no such file: {} (scripts/make_standin_tasks.py makes the stand-in tasks)", spec.file));
      for (const EvalTaskSpec& other : v)
        if (other.name == spec.name) item.fail(fmt::format("a second task named '{}' (give each a name:)", spec.name));
      t.section().finish();
      v.push_back(std::move(spec));
    }
  }

  // Where `key` was given in this section, if it was.
  std::optional<YamlField> spot(const std::string& key) const {
    for (const auto& [k, f] : spots_)
      if (k == key) return f;
    return std::nullopt;
  }

 private:
  std::optional<YamlField> take(const OptionInfo& info) {
    auto f = r_.section().take(info.key);
    if (f) spots_.emplace_back(info.key, *f);
    return f;
  }
  SectionReader& r_;
  bool check_files_;
  std::vector<std::pair<std::string, YamlField>> spots_;
};

// Paths a later check may need to point at.
struct Spots {
  std::optional<YamlField> model, collect_text, eval_text, collect_seq_len, eval_seq_len, train_layers, bench_text;
};

// One section through its table; `spots` gets the keys the checks after parsing point at.
void parse_section(Stage s, SectionReader r, Experiment& e, Spots& spots, bool check_files) {
  ReadOptions read(r, check_files);
  switch (s) {
    case Stage::kCollect:
      visit_collect_options(e.collect, read);
      spots.collect_text = read.spot("text");
      spots.collect_seq_len = read.spot("seq_len");
      break;
    case Stage::kTrain:
      visit_train_options(e.train, read);
      spots.train_layers = read.spot("layers");
      break;
    case Stage::kMeasure: visit_measure_options(e.measure, read); break;
    case Stage::kEval:
      visit_eval_options(e.eval, read);
      spots.eval_text = read.spot("text");
      spots.eval_seq_len = read.spot("seq_len");
      break;
    case Stage::kBench: {
      std::vector<std::string> shapes = opt_builtin_names();
      shapes.push_back("model");  // the experiment's checkpoint
      visit_bench_options(e.bench, read, shapes);
      spots.bench_text = read.spot("text");
      break;
    }
  }
  r.section().finish();
}

// The file's name without extension, with characters a name may not hold replaced by '_'.
std::string stem_of(const std::string& where) {
  std::string stem = std::filesystem::path(where).stem().string();
  for (char& c : stem) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.') c = '_';
  }
  return stem.empty() || stem == "." || stem == ".." ? "experiment" : stem;
}

// For a missing relative path: where it was looked for, and where it would be found (beside the YAML file).
std::string relative_path_hint(const std::string& path, const std::string& where) {
  if (path.empty() || std::filesystem::path(path).is_absolute()) return "";
  std::error_code ec;
  std::string hint = fmt::format(" (relative paths resolve against the working directory, {})",
                                 std::filesystem::current_path(ec).string());
  const std::filesystem::path beside = std::filesystem::path(where).parent_path() / path;
  if (!std::filesystem::path(where).parent_path().empty() && std::filesystem::exists(beside, ec))
    hint += fmt::format("; {} exists: run from {} or write that path", beside.string(),
                        std::filesystem::path(where).parent_path().string());
  return hint;
}

void check_text_file(const std::optional<YamlField>& spot, const YamlField& section_spot, const std::string& path,
                     const char* stage, bool check_files, const std::string& where) {
  if (path.empty()) {
    section_spot.fail(fmt::format("required when the {} stage runs: the text file to read", stage));
  }
  if (!check_files) return;
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    spot->fail(fmt::format("no such file: {}{}", path, relative_path_hint(path, where)));
  if (std::filesystem::file_size(path, ec) == 0) spot->fail(fmt::format("{} is empty", path));
}

// Checks the model directory; returns its config when the files are checked.
std::optional<OptConfig> check_model(const Experiment& e, const std::optional<YamlField>& spot, const YamlField& top,
                                     bool check_files, const std::string& where) {
  const bool bench_model = e.runs(Stage::kBench) && e.bench.times_model();
  const bool needed = e.runs(Stage::kCollect) || e.runs(Stage::kEval) || bench_model;
  if (e.model.empty()) {
    const char* by = e.runs(Stage::kCollect) ? "collect" : e.runs(Stage::kEval) ? "eval" : "bench (shapes: [model])";
    if (needed) top.child("model", YAML::Node()).fail(fmt::format("required by the {} stage: a model directory", by));
    return std::nullopt;
  }
  if (!check_files) return std::nullopt;
  std::error_code ec;
  if (!std::filesystem::is_directory(e.model, ec))
    spot->fail(fmt::format("no such directory: {}{}", e.model, relative_path_hint(e.model, where)));
  const std::string config = (std::filesystem::path(e.model) / "config.json").string();
  if (!std::filesystem::is_regular_file(config, ec)) {
    spot->fail(fmt::format("{} has no config.json (not a Hugging Face model directory?)", e.model));
  }
  try {
    return load_opt_config(e.model);
  } catch (const Error& err) {
    spot->fail(err.what());
  }
}

void check_seq_len(const std::optional<YamlField>& spot, int64_t seq_len, const OptConfig& c) {
  if (spot && seq_len > c.max_position_embeddings) {
    spot->fail(fmt::format("{} exceeds the model's max_position_embeddings {}", seq_len, c.max_position_embeddings));
  }
}

}  // namespace

Experiment parse_experiment(const std::string& yaml, const std::string& where, const ParseOptions& options) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml);
  } catch (const YAML::Exception& e) {
    fail_yaml_syntax(yaml, where, e);
  }
  DV_CHECK(root.IsDefined() && !root.IsNull(), "{}: the experiment file is empty", where);
  const YamlField top_field{root, "", &where, 0};
  SectionReader top(top_field);
  Experiment e;
  Spots spots;
  if (auto f = top.string("name", e.name)) {
    const bool ok = std::all_of(e.name.begin(), e.name.end(), [](unsigned char c) {
      return std::isalnum(c) || c == '_' || c == '-' || c == '.';
    });
    if (!ok || e.name == "." || e.name == "..") f->fail("use letters, digits, '_', '-' and '.' only (it names a directory)");
  } else {
    e.name = stem_of(where);
  }
  if (!top.string("output_dir", e.output_dir)) e.output_dir = "runs/" + e.name;
  {
    ReadOptions globals(top, options.check_files);
    visit_global_options(e, globals);
    spots.model = globals.spot("model");
  }

  std::vector<std::string> stage_names;
  for (Stage s : kAllStages) stage_names.push_back(stage_name(s));
  std::optional<YamlField> stages_spot = top.section().take("stages");
  if (stages_spot) {
    std::vector<std::string> listed;
    for (const YamlField& f : yaml_list(*stages_spot)) {
      const std::string name = SectionReader::checked_choice(f, stage_names);
      if (std::find(listed.begin(), listed.end(), name) != listed.end()) f.fail(fmt::format("'{}' is listed twice", name));
      const auto pos = std::find(stage_names.begin(), stage_names.end(), name) - stage_names.begin();
      if (!e.stages.empty() && static_cast<int>(e.stages.back()) > pos) {
        f.fail(fmt::format("'{}' is listed after '{}'; stages run in the order {}", name, listed.back(), join(stage_names)));
      }
      listed.push_back(name);
      e.stages.push_back(kAllStages[pos]);
    }
  }
  for (Stage s : kAllStages) {
    const std::string name = stage_name(s);
    const bool present = top.section().has(name);
    std::optional<YamlField> f = top.section().take(name);
    if (!present) continue;
    parse_section(s, SectionReader(*f), e, spots, options.check_files);
    if (!stages_spot) e.stages.push_back(s);
  }
  top.section().finish();
  if (e.stages.empty()) {
    DV_FAIL("{}: no stages to run: add a section (collect:, train:, measure:, eval:, bench:) or a stages: list", where);
  }

  const std::optional<OptConfig> config = check_model(e, spots.model, top_field, options.check_files, where);
  const YAML::Node& const_root = root;  // const lookups: operator[] on a mutable node inserts keys
  auto section_spot = [&](const char* name) { return top_field.child(name, const_root[name]); };
  if (e.runs(Stage::kCollect)) {
    check_text_file(spots.collect_text, section_spot("collect").child("text", YAML::Node()), e.collect.text, "collect",
                    options.check_files, where);
  }
  if (e.runs(Stage::kEval)) {
    check_text_file(spots.eval_text, section_spot("eval").child("text", YAML::Node()), e.eval.text, "eval",
                    options.check_files, where);
  }
  if (e.runs(Stage::kBench) && spots.bench_text) {
    check_text_file(spots.bench_text, *spots.bench_text, e.bench.text, "bench", options.check_files, where);
  }
  if (config) {
    check_seq_len(spots.collect_seq_len, e.collect.seq_len, *config);
    check_seq_len(spots.eval_seq_len, e.eval.seq_len, *config);
    for (size_t i = 0; i < e.train.layers.size(); ++i) {
      if (e.train.layers[i] >= config->num_hidden_layers) {
        YamlField{spots.train_layers->node[i], fmt::format("train.layers[{}]", i), &where, spots.train_layers->line}
            .fail(fmt::format("layer {} does not exist: the model has {} layers (0..{})", e.train.layers[i],
                              config->num_hidden_layers, config->num_hidden_layers - 1));
      }
    }
  }
  return e;
}

Experiment load_experiment(const std::string& path, const ParseOptions& options) {
  std::error_code ec;
  DV_CHECK(std::filesystem::is_regular_file(path, ec), "{}: no such experiment file", path);
  std::ifstream in(path, std::ios::binary);
  DV_CHECK(in.good(), "{}: cannot open", path);
  std::ostringstream text;
  text << in.rdbuf();
  return parse_experiment(text.str(), path, options);
}

}  // namespace dv
