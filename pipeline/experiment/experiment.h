// experiment.h: an experiment (experiments/NAME.yaml) as typed structs, each field with its
// default and what it means. load_experiment() fills them from YAML, rejecting unknown keys,
// wrong types, out-of-range values, empty sweeps and missing files with a one-line dv::Error
// that names the file, the line and the key path. The `dejavu run` command maps each section
// onto its stage's options; the stages themselves do not depend on this library.
// 0 means "the stage's default for this model" wherever a field says so.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace dv {

enum class Stage { kCollect, kTrain, kMeasure, kEval, kBench };
constexpr Stage kAllStages[] = {Stage::kCollect, Stage::kTrain, Stage::kMeasure, Stage::kEval, Stage::kBench};
const char* stage_name(Stage s);  // "collect", "train", ...

struct CollectSection {
  std::string text;              // UTF-8 corpus to run the dense model over (required when collect runs)
  int64_t max_tokens = 0;        // corpus tokens read; 0 = the whole file
  int64_t seq_len = 0;           // window length in tokens; 0 = min(max_position_embeddings, 2048)
  int64_t sample_every = 1;      // keep every k-th position of each window
  int64_t max_rows = 0;          // rows recorded; 0 = no limit
  bool store_fc1_values = false; // also keep post-ReLU fc1 values (ffn float16 per row and layer: large)
  int64_t batch_windows = 1;     // windows run through the model together
  std::vector<std::string> fields;   // layer fields stored (attn_input, mlp_input, fc1_active, head_norm); empty = all four
  std::string compression = "gzip";  // gzip (shuffle + deflate 1) | none (raw chunks: fastest, ~15% larger)
  double max_nonfinite = 0.001;      // rows with NaN/Inf are dropped; a larger share of them fails the stage
  bool operator==(const CollectSection& o) const;
};

struct TrainSection {
  int64_t rank_mlp = 0;            // MLP predictor rank; 0 = train's default, clamp(d/2, 64, 1000) (the paper: 1000)
  int64_t rank_att = 0;            // head predictor rank; 0 = train's default, clamp(d/4, 32, 512)
  int64_t epochs = 20;             // upper bound; early stopping usually ends sooner
  double lr_mlp = 1e-3;            // AdamW learning rate of the MLP predictors (paper: run_c4_mlp.sh)
  double lr_att = 1e-4;            // AdamW learning rate of the head predictors (paper: run_c4_att.sh)
  double weight_decay = 0.01;      // AdamW weight decay
  int64_t batch_size = 1024;       // rows per optimiser step
  double val_fraction = 0.05;      // held-out share of the rows (the paper's 95/5 split)
  int64_t patience = 5;            // epochs without a validation recall gain before stopping
  double stop_recall = 0.99;       // stop once validation recall exceeds this (the paper's rule)
  double att_top_fraction = 0.3;   // head label: the top fraction of heads by output norm (paper: 0.3)
  std::string mlp_input = "mlp_input";       // mlp_input | attn_input | prev_mlp_input | prev_attn_input
  std::string att_input = "prev_attn_input"; // prev_attn_input (paper's lookahead) | attn_input | prev_mlp_input
  std::vector<int64_t> layers;     // layers to train; empty = all (written "all")
  bool operator==(const TrainSection& o) const;
};

struct MeasureSection {
  std::vector<double> mlp_topk_fractions = {0.05, 0.1, 0.2, 0.3, 0.5};  // predictor keeps top fraction of fc1
  std::vector<double> mlp_thresholds = {0.1, 0.3, 0.5, 0.7, 0.9};       // sigmoid thresholds swept
  std::vector<double> head_keep_fractions = {0.25, 0.5, 0.75};          // heads kept by the head predictor
  std::vector<double> norm_share = {0.9, 0.95, 0.99};  // oracle: heads needed for this share of output norm
  bool operator==(const MeasureSection& o) const;
};

// One zero-shot task of eval.tasks: a file in a public layout, read by the reader `format` (pipeline/tasks).
struct EvalTaskSpec {
  std::string name;    // how results name it; default: the format
  std::string format;  // cb | copa | hellaswag | lambada | openbookqa | piqa | rte | winogrande | jsonl
  std::string file;    // the task file, unchanged from its public release (pipeline/tasks/README.md)
  bool operator==(const EvalTaskSpec& o) const { return name == o.name && format == o.format && file == o.file; }
};

struct EvalSection {
  std::string text;        // UTF-8 text for perplexity (required when eval runs)
  int64_t max_tokens = 0;  // tokens evaluated; 0 = the whole file
  int64_t seq_len = 0;     // window length; 0 = min(max_position_embeddings, 2048)
  std::vector<std::string> modes = {"dense", "oracle", "predicted"};  // dense | oracle | predicted
  std::vector<double> mlp_densities = {0.5, 0.25, 0.1};   // fraction of fc1 neurons kept
  std::vector<double> head_densities = {0.75, 0.5, 0.25}; // fraction of heads kept
  std::vector<std::string> targets = {"mlp", "heads", "both"};  // what is made sparse
  std::vector<int64_t> dense_layers;  // layers left dense at every sparse point (-1 = the last)
  std::string engine = "reference";   // reference | cuda: who scores (the CUDA engine uses its own selections)
  std::vector<EvalTaskSpec> tasks;    // zero-shot tasks scored at every point too (tasks.csv); empty = none
  int64_t task_max_docs = 0;          // documents per task; 0 = all
  int64_t task_batch = 16;            // task sequences per forward
  bool operator==(const EvalSection& o) const;
};

// The GPU decode benchmark (`dejavu bench`); skipped with a one-line reason where there is no CUDA GPU.
struct BenchSection {
  // built-in OPT shapes (random fp16 weights, engine/io) and/or "model": the experiment's checkpoint with real
  // selections, the train stage's predictors when train runs (prompt and decoded tokens from `text`)
  std::vector<std::string> shapes = {"opt-13b", "opt-30b", "opt-66b"};
  std::vector<int64_t> batch_sizes = {1};  // decode batch sizes, swept on the first built-in shape listed
  std::vector<double> densities = {0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0};  // fraction of MLP neurons kept
  int64_t prompt_len = 128;  // prompt tokens before timing
  int64_t gen_tokens = 128;  // decoded tokens timed
  double head_density = 0.5; // fraction of heads kept at every sparse point
  std::string text;          // "model": UTF-8 text for the prompt and decoded tokens; empty = a built-in passage
  bool operator==(const BenchSection& o) const;
  bool times_model() const;  // "model" is listed
};

struct Experiment {
  std::string name;        // default: the file's name without .yaml
  std::string output_dir;  // default: runs/<name>; each stage writes <output_dir>/<stage>/
  std::string model;       // checkpoint directory with config.json (required by collect and eval)
  std::string device = "auto";    // cpu | cuda | cuda:N | auto (cuda when a GPU is visible)
  std::string dtype = "float32";  // float32 | float16 | bfloat16: the model's compute type
  int64_t seed = 0;               // seeds sampling, initialisation and shuffling
  std::vector<Stage> stages;      // in pipeline order; default: every section present in the file
  CollectSection collect;
  TrainSection train;
  MeasureSection measure;
  EvalSection eval;
  BenchSection bench;

  bool runs(Stage s) const;
  bool operator==(const Experiment& o) const;
};

struct ParseOptions {
  bool check_files = true;  // false: skip filesystem checks (model dir, text files): fuzzing, unit tests
};

// Reads and validates an experiment file. Relative paths inside it are kept as written and
// resolve against the current working directory (run from the repository root).
Experiment load_experiment(const std::string& path, const ParseOptions& options = {});
// The same from YAML text; `where` names it in messages and gives the default name.
Experiment parse_experiment(const std::string& yaml, const std::string& where, const ParseOptions& options = {});

}  // namespace dv
