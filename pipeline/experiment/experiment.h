// experiment.h: an experiment (experiments/NAME.yaml) as typed structs. Each stage's section is declared once
// in its folder (pipeline/<stage>/<stage>_section.h: fields, defaults, keys, help, ranges; the README's option
// table is made from it); the top-level keys are here, those every stage's config holds in a table of their own
// (visit_global_options). load_experiment() fills them from YAML, rejecting
// unknown keys, wrong types, out-of-range values, empty sweeps and missing files with a one-line dv::Error
// that names the file, the line and the key path. Each stage's RunStage maps its section onto the stage.
// 0 means "the stage's default for this model" wherever a field says so.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "pipeline/bench/bench_section.h"
#include "pipeline/collect/collect_section.h"
#include "pipeline/eval/eval_section.h"
#include "pipeline/measure/measure_section.h"
#include "pipeline/train/train_section.h"

namespace dv {

enum class Stage { kCollect, kTrain, kMeasure, kEval, kBench };
constexpr Stage kAllStages[] = {Stage::kCollect, Stage::kTrain, Stage::kMeasure, Stage::kEval, Stage::kBench};
const char* stage_name(Stage s);  // "collect", "train", ...

struct Experiment {
  std::string name;        // default: the file's name without .yaml
  std::string output_dir;  // default: runs/<name>; each stage writes <output_dir>/<stage>/
  std::string model;              // model, device, dtype, seed: meaning and checks in visit_global_options
  std::string device = "auto";
  std::string dtype = "float32";
  int64_t seed = 0;
  std::vector<Stage> stages;      // in pipeline order; default: every section present in the file
  CollectSection collect;
  TrainSection train;
  MeasureSection measure;
  EvalSection eval;
  BenchSection bench;

  bool runs(Stage s) const;
  bool operator==(const Experiment& o) const;
};

// The top-level keys every stage's config (and so its hash) holds, declared like a section's options
// (option_table.h), in the order the resolved YAML writes them. name, output_dir and stages are read by hand:
// their defaults come from the file's name and its sections, and no stage's result depends on them.
template <class E, class Visitor>
void visit_global_options(E& e, Visitor& v) {
  v.text(e.model, {"model", "checkpoint directory with config.json (required by collect, eval and bench's model "
                            "shape)", true, false});
  v.device(e.device, {"device", "where the model runs; auto: cuda when a GPU is visible"});
  v.choice(e.dtype, {"dtype", "the model's compute type"}, {"float32", "float16", "bfloat16"});
  v.integer(e.seed, {"seed", "seeds sampling, initialisation and shuffling"}, IntRange{0});
}

struct ParseOptions {
  bool check_files = true;  // false: skip filesystem checks (model dir, text files): fuzzing, unit tests
};

// Reads and validates an experiment file. Relative paths inside it are kept as written and
// resolve against the current working directory (run from the repository root).
Experiment load_experiment(const std::string& path, const ParseOptions& options = {});
// The same from YAML text; `where` names it in messages and gives the default name.
Experiment parse_experiment(const std::string& yaml, const std::string& where, const ParseOptions& options = {});

}  // namespace dv
