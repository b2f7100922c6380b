// experiment_yaml.cpp: YAML emission of experiments. Numbers are written in their shortest
// round-trip form (fmt's "{}"), so 0.1 stays 0.1 and parses back to the same double.
#include "pipeline/experiment/experiment_yaml.h"

#include <any>
#include <vector>

#include <yaml-cpp/yaml.h>

#include <fmt/format.h>

#include "pipeline/experiment/option_text.h"

namespace dv {

namespace {

std::string num(double v) { return fmt::format("{}", v); }

template <typename T>
void emit_flow(YAML::Emitter& out, const std::vector<T>& values) {
  out << YAML::Flow << YAML::BeginSeq;
  for (const T& v : values) {
    if constexpr (std::is_same_v<T, double>) {
      out << num(v);
    } else {
      out << v;
    }
  }
  out << YAML::EndSeq;
}

template <typename T>
void emit_list(YAML::Emitter& out, const char* key, const std::vector<T>& values) {
  out << YAML::Key << key << YAML::Value;
  emit_flow(out, values);
}

// Emits each option of a section's table, in table order; an option that is not always written only when its
// text differs from the default section's (so that configs, and stage hashes, of earlier runs stay as they were).
class EmitOptions {
 public:
  EmitOptions(YAML::Emitter& out, std::vector<OptionText> defaults) : out_(out), defaults_(std::move(defaults)) {}

  void integer(int64_t v, const OptionInfo& info, IntRange) {
    if (key(info, std::to_string(v))) out_ << v;
  }
  void number(double v, const OptionInfo& info, Interval) {
    if (key(info, num(v))) out_ << num(v);
  }
  void boolean(bool v, const OptionInfo& info) {
    if (key(info, v ? "true" : "false")) out_ << v;
  }
  void text(const std::string& v, const OptionInfo& info) {
    if (key(info, v)) out_ << v;
  }
  void choice(const std::string& v, const OptionInfo& info, const std::vector<std::string>&) {
    if (key(info, v)) out_ << v;
  }
  void device(const std::string& v, const OptionInfo& info) {
    if (key(info, v)) out_ << v;
  }
  void numbers(const std::vector<double>& v, const OptionInfo& info, Interval) {
    if (key(info, option_list_text(v))) flow(v);
  }
  void integers(const std::vector<int64_t>& v, const OptionInfo& info, IntRange) {
    if (key(info, option_list_text(v))) flow(v);
  }
  void choices(const std::vector<std::string>& v, const OptionInfo& info, const std::vector<std::string>&) {
    if (key(info, option_list_text(v))) flow(v);
  }
  void layer_list(const std::vector<int64_t>& v, const OptionInfo& info) {
    if (!key(info, v.empty() ? "all" : option_list_text(v))) return;
    if (v.empty()) {
      out_ << "all";
    } else {
      flow(v);
    }
  }
  void task_list(const std::vector<EvalTaskSpec>& v, const OptionInfo& info) {
    OptionTexts t;
    t.task_list(v, info);
    if (!key(info, t.rows[0].value)) return;
    out_ << YAML::BeginSeq;
    for (const EvalTaskSpec& task : v)
      out_ << YAML::Flow << YAML::BeginMap << YAML::Key << "name" << YAML::Value << task.name << YAML::Key << "format"
           << YAML::Value << task.format << YAML::Key << "file" << YAML::Value << task.file << YAML::EndMap;
    out_ << YAML::EndSeq;
  }

 private:
  // Writes the key and returns true when the option is written.
  bool key(const OptionInfo& info, const std::string& value) {
    const OptionText& d = defaults_.at(index_++);
    if (!info.always_written && value == d.value) return false;
    out_ << YAML::Key << info.key << YAML::Value;
    return true;
  }
  template <typename T>
  void flow(const std::vector<T>& values) {
    emit_flow(out_, values);
  }

  YAML::Emitter& out_;
  std::vector<OptionText> defaults_;
  size_t index_ = 0;
};

// The values of a section's options, in table order.
class OptionValues : public EachOption<OptionValues> {
 public:
  std::vector<std::any> values;
  template <class T>
  void field(const T& v, const OptionInfo&) {
    values.emplace_back(v);
  }
};

// Sets every option that does not enter the stage hash back to its value in `defaults`.
class ResetUnhashed : public EachOption<ResetUnhashed> {
 public:
  explicit ResetUnhashed(std::vector<std::any> defaults) : defaults_(std::move(defaults)) {}
  template <class T>
  void field(T& v, const OptionInfo& info) {
    const std::any& d = defaults_.at(index_++);
    if (!info.hashed) v = std::any_cast<const T&>(d);
  }

 private:
  std::vector<std::any> defaults_;
  size_t index_ = 0;
};

// hashed_only: the options outside the hash are written at their defaults, so that changing one leaves the
// hash as it is, and a config that leaves them at their defaults hashes as it did before they left the hash.
template <class Section, class Visit>
void emit_options(YAML::Emitter& out, const Section& s, Visit visit, bool hashed_only) {
  const Section default_section{};
  OptionTexts defaults;
  visit(default_section, defaults);
  EmitOptions emit(out, std::move(defaults.rows));
  if (!hashed_only) return visit(s, emit);
  OptionValues default_values;
  visit(default_section, default_values);
  Section hashed = s;
  ResetUnhashed reset(std::move(default_values.values));
  visit(hashed, reset);
  visit(hashed, emit);
}

void emit_section(YAML::Emitter& out, const Experiment& e, Stage s, bool hashed_only = false) {
  out << YAML::Key << stage_name(s) << YAML::Value << YAML::BeginMap;
  switch (s) {
    case Stage::kCollect:
      emit_options(out, e.collect, [](auto& sec, auto& v) { visit_collect_options(sec, v); }, hashed_only);
      break;
    case Stage::kTrain:
      emit_options(out, e.train, [](auto& sec, auto& v) { visit_train_options(sec, v); }, hashed_only);
      break;
    case Stage::kMeasure:
      emit_options(out, e.measure, [](auto& sec, auto& v) { visit_measure_options(sec, v); }, hashed_only);
      break;
    case Stage::kEval:
      emit_options(out, e.eval, [](auto& sec, auto& v) { visit_eval_options(sec, v); }, hashed_only);
      break;
    case Stage::kBench:
      emit_options(out, e.bench, [](auto& sec, auto& v) { visit_bench_options(sec, v, {}); }, hashed_only);
      break;
  }
  out << YAML::EndMap;
}

bool section_is_default(const Experiment& e, Stage s) {
  switch (s) {
    case Stage::kCollect: return e.collect == CollectSection{};
    case Stage::kTrain: return e.train == TrainSection{};
    case Stage::kMeasure: return e.measure == MeasureSection{};
    case Stage::kEval: return e.eval == EvalSection{};
    case Stage::kBench: return e.bench == BenchSection{};
  }
  return false;
}

void emit_globals(YAML::Emitter& out, const Experiment& e) {
  emit_options(out, e, [](auto& exp, auto& v) { visit_global_options(exp, v); }, /*hashed_only=*/false);
}

std::string finish(YAML::Emitter& out) { return std::string(out.c_str()) + "\n"; }

}  // namespace

std::string experiment_to_yaml(const Experiment& e) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "name" << YAML::Value << e.name;
  out << YAML::Key << "output_dir" << YAML::Value << e.output_dir;
  emit_globals(out, e);
  std::vector<std::string> stages;
  for (Stage s : e.stages) stages.push_back(stage_name(s));
  emit_list(out, "stages", stages);
  // A stage the experiment does not run and whose section is all defaults is left out (a report of a run
  // without bench shows no bench section); parsing gives the same defaults back, so the round trip holds.
  for (Stage s : kAllStages)
    if (e.runs(s) || !section_is_default(e, s)) emit_section(out, e, s);
  out << YAML::EndMap;
  return finish(out);
}

std::string stage_config_yaml(const Experiment& e, Stage stage, bool hashed_only) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  emit_globals(out, e);
  emit_list(out, "stages", std::vector<std::string>{stage_name(stage)});
  emit_section(out, e, stage, hashed_only);
  out << YAML::EndMap;
  return finish(out);
}

}  // namespace dv
