// experiment_parse.cpp: YAML -> Experiment, with every check that can name a key: types,
// ranges, allowed names, empty or repeated sweep values, unknown keys, required fields of the
// stages that run, and the files they name (model directory, text files).
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include <fmt/format.h>

#include "engine/io/opt_config.h"
#include "kernels/common/error.h"
#include "pipeline/experiment/experiment.h"
#include "pipeline/experiment/yaml_fields.h"

namespace dv {

namespace {

constexpr int64_t kNoMax = std::numeric_limits<int64_t>::max();

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

// Typed readers over one section: each leaves `out` at its default when the key is absent.
class SectionReader {
 public:
  explicit SectionReader(YamlField f) : s_(std::move(f)) {}
  YamlSection& section() { return s_; }

  void integer(const char* key, int64_t& out, int64_t lo, int64_t hi = kNoMax) {
    if (auto f = s_.take(key)) out = checked_int(*f, lo, hi);
  }
  void number(const char* key, double& out, double lo, double hi, bool lo_open, bool hi_open) {
    if (auto f = s_.take(key)) out = checked_number(*f, lo, hi, lo_open, hi_open);
  }
  void boolean(const char* key, bool& out) {
    if (auto f = s_.take(key)) out = yaml_bool(*f);
  }
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
  void numbers(const char* key, std::vector<double>& out, double lo, double hi, bool lo_open, bool hi_open) {
    auto f = s_.take(key);
    if (!f) return;
    out.clear();
    for (const YamlField& e : yaml_list(*f)) {
      const double v = checked_number(e, lo, hi, lo_open, hi_open);
      if (std::find(out.begin(), out.end(), v) != out.end()) e.fail(fmt::format("{} is listed twice", v));
      out.push_back(v);
    }
  }
  void integers(const char* key, std::vector<int64_t>& out, int64_t lo, int64_t hi = kNoMax) {
    auto f = s_.take(key);
    if (!f) return;
    out.clear();
    for (const YamlField& e : yaml_list(*f)) {
      const int64_t v = checked_int(e, lo, hi);
      if (std::find(out.begin(), out.end(), v) != out.end()) e.fail(fmt::format("{} is listed twice", v));
      out.push_back(v);
    }
  }
  void choices(const char* key, std::vector<std::string>& out, const std::vector<std::string>& allowed) {
    auto f = s_.take(key);
    if (!f) return;
    out.clear();
    for (const YamlField& e : yaml_list(*f)) {
      std::string v = checked_choice(e, allowed);
      if (std::find(out.begin(), out.end(), v) != out.end()) e.fail(fmt::format("'{}' is listed twice", v));
      out.push_back(std::move(v));
    }
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

// Paths a later check may need to point at.
struct Spots {
  std::optional<YamlField> model, collect_text, eval_text, collect_seq_len, eval_seq_len, train_layers, bench_text;
};

void parse_collect(SectionReader r, CollectSection& c, Spots& spots) {
  spots.collect_text = r.string("text", c.text);
  r.integer("max_tokens", c.max_tokens, 0);
  spots.collect_seq_len = r.section().take("seq_len");
  if (spots.collect_seq_len) c.seq_len = SectionReader::checked_int(*spots.collect_seq_len, 0, 1 << 20);
  r.integer("sample_every", c.sample_every, 1);
  r.integer("max_rows", c.max_rows, 0);
  r.boolean("store_fc1_values", c.store_fc1_values);
  r.integer("batch_windows", c.batch_windows, 1, 4096);
  r.choices("fields", c.fields, {"attn_input", "mlp_input", "fc1_active", "head_norm"});
  r.choice("compression", c.compression, {"gzip", "none"});
  r.number("max_nonfinite", c.max_nonfinite, 0, 1, false, false);
  r.section().finish();
}

void parse_train(SectionReader r, TrainSection& t, Spots& spots) {
  r.integer("rank_mlp", t.rank_mlp, 0, 1 << 16);
  r.integer("rank_att", t.rank_att, 0, 1 << 16);
  r.integer("epochs", t.epochs, 1, 10000);
  r.number("lr_mlp", t.lr_mlp, 0, 1, true, false);
  r.number("lr_att", t.lr_att, 0, 1, true, false);
  r.number("weight_decay", t.weight_decay, 0, 1, false, false);
  r.integer("batch_size", t.batch_size, 1, 1 << 24);
  r.number("val_fraction", t.val_fraction, 0, 1, true, true);
  r.integer("patience", t.patience, 1, 10000);
  r.number("stop_recall", t.stop_recall, 0, 1, true, false);
  r.number("att_top_fraction", t.att_top_fraction, 0, 1, true, false);
  r.choice("mlp_input", t.mlp_input, {"mlp_input", "attn_input", "prev_mlp_input", "prev_attn_input"});
  r.choice("att_input", t.att_input, {"prev_attn_input", "attn_input", "prev_mlp_input"});
  spots.train_layers = r.section().take("layers");
  if (spots.train_layers) {
    const YamlField& f = *spots.train_layers;
    if (f.node.IsScalar() && f.node.Scalar() == "all") {
      t.layers.clear();
    } else {
      if (!f.node.IsSequence()) f.fail(fmt::format("expected \"all\" or a list of layer numbers, got {}", yaml_describe(f.node)));
      t.layers.clear();
      for (const YamlField& e : yaml_list(f)) {
        const int64_t v = SectionReader::checked_int(e, 0, 998);
        if (std::find(t.layers.begin(), t.layers.end(), v) != t.layers.end()) e.fail(fmt::format("{} is listed twice", v));
        t.layers.push_back(v);
      }
    }
  }
  r.section().finish();
}

void parse_measure(SectionReader r, MeasureSection& m) {
  r.numbers("mlp_topk_fractions", m.mlp_topk_fractions, 0, 1, true, false);
  r.numbers("mlp_thresholds", m.mlp_thresholds, 0, 1, true, true);
  r.numbers("head_keep_fractions", m.head_keep_fractions, 0, 1, true, false);
  r.numbers("norm_share", m.norm_share, 0, 1, true, false);
  r.section().finish();
}

void parse_eval(SectionReader r, EvalSection& e, Spots& spots, bool check_files) {
  spots.eval_text = r.string("text", e.text);
  r.integer("max_tokens", e.max_tokens, 0);
  spots.eval_seq_len = r.section().take("seq_len");
  if (spots.eval_seq_len) e.seq_len = SectionReader::checked_int(*spots.eval_seq_len, 0, 1 << 20);
  r.choices("modes", e.modes, {"dense", "oracle", "predicted"});
  r.numbers("mlp_densities", e.mlp_densities, 0, 1, true, false);
  r.numbers("head_densities", e.head_densities, 0, 1, true, false);
  r.choices("targets", e.targets, {"mlp", "heads", "both"});
  r.integers("dense_layers", e.dense_layers, -4096, 4095);  // checked against the model when eval runs
  r.choice("engine", e.engine, {"reference", "cuda"});
  if (auto f = r.section().take("tasks")) {
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
      if (check_files && !std::filesystem::is_regular_file(spec.file, ec))
        file->fail(fmt::format("no such file: {} (scripts/make_standin_tasks.py makes the stand-in tasks)", spec.file));
      for (const EvalTaskSpec& other : e.tasks)
        if (other.name == spec.name) item.fail(fmt::format("a second task named '{}' (give each a name:)", spec.name));
      t.section().finish();
      e.tasks.push_back(std::move(spec));
    }
  }
  r.integer("task_max_docs", e.task_max_docs, 0);
  r.integer("task_batch", e.task_batch, 1, 4096);
  r.section().finish();
}

void parse_bench(SectionReader r, BenchSection& b, Spots& spots) {
  std::vector<std::string> shapes = opt_builtin_names();
  shapes.push_back("model");  // the experiment's checkpoint
  r.choices("shapes", b.shapes, shapes);
  r.integers("batch_sizes", b.batch_sizes, 1, 4096);
  r.numbers("densities", b.densities, 0, 1, true, false);
  r.integer("prompt_len", b.prompt_len, 1, 1 << 20);
  r.integer("gen_tokens", b.gen_tokens, 1, 1 << 20);
  r.number("head_density", b.head_density, 0, 1, true, false);
  spots.bench_text = r.string("text", b.text);
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
    DV_FAIL("{}:{}:{}: invalid YAML: {}", where, e.mark.line + 1, e.mark.column + 1, e.msg);
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
  spots.model = top.string("model", e.model);
  if (auto f = top.section().take("device")) {
    e.device = yaml_string(*f);
    const bool cuda_n = e.device.rfind("cuda:", 0) == 0 && e.device.size() > 5 &&
                        std::all_of(e.device.begin() + 5, e.device.end(), [](unsigned char c) { return std::isdigit(c); });
    if (e.device != "cpu" && e.device != "cuda" && e.device != "auto" && !cuda_n) {
      f->fail(fmt::format("expected one of cpu, cuda, cuda:N, auto, got \"{}\"", e.device));
    }
  }
  top.choice("dtype", e.dtype, {"float32", "float16", "bfloat16"});
  top.integer("seed", e.seed, 0);

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
    SectionReader r(*f);
    switch (s) {
      case Stage::kCollect: parse_collect(std::move(r), e.collect, spots); break;
      case Stage::kTrain: parse_train(std::move(r), e.train, spots); break;
      case Stage::kMeasure: parse_measure(std::move(r), e.measure); break;
      case Stage::kEval: parse_eval(std::move(r), e.eval, spots, options.check_files); break;
      case Stage::kBench: parse_bench(std::move(r), e.bench, spots); break;
    }
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
