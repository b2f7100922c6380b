// experiment_test.cpp: defaults, full parses, the resolved-YAML round trip (including on random
// experiments), stage selection, and the shipped experiments/quickstart.yaml.
#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "kernels/common/error.h"
#include "pipeline/experiment/experiment.h"
#include "pipeline/experiment/experiment_yaml.h"
#include "tests/common/missing_dependency.h"
#include "tests/experiment/experiment_fixture.h"

namespace dv {
namespace {

using test::ExperimentDir;

TEST(Experiment, MinimalFileGetsEveryDefault) {
  ExperimentDir dir;
  const Experiment e = load_experiment(dir.write("my-exp.yaml", dir.minimal_yaml()));
  EXPECT_EQ(e.name, "my-exp");
  EXPECT_EQ(e.output_dir, "runs/my-exp");
  EXPECT_EQ(e.model, dir.path("model"));
  EXPECT_EQ(e.device, "auto");
  EXPECT_EQ(e.dtype, "float32");
  EXPECT_EQ(e.seed, 0);
  // Default stages: the sections present, in pipeline order.
  EXPECT_EQ(e.stages, (std::vector<Stage>{Stage::kCollect, Stage::kEval}));
  CollectSection collect;
  collect.text = dir.path("train.txt");
  EXPECT_EQ(e.collect, collect);
  EXPECT_EQ(e.collect.sample_every, 1);
  EXPECT_EQ(e.train, TrainSection{});
  EXPECT_EQ(e.train.epochs, 20);
  EXPECT_EQ(e.train.lr_mlp, 1e-3);
  EXPECT_EQ(e.train.lr_att, 1e-4);
  EXPECT_EQ(e.train.att_top_fraction, 0.3);
  EXPECT_EQ(e.train.att_input, "prev_attn_input");
  EXPECT_EQ(e.measure, MeasureSection{});
  EXPECT_EQ(e.measure.norm_share, (std::vector<double>{0.9, 0.95, 0.99}));
  EXPECT_EQ(e.eval.sweep.modes, (std::vector<std::string>{"dense", "oracle", "predicted"}));
  EXPECT_EQ(e.bench, BenchSection{});
}

TEST(Experiment, EveryFieldIsRead) {
  ExperimentDir dir;
  const std::string yaml = R"(
name: full
output_dir: /tmp/somewhere
model: )" + dir.path("model") + R"(
device: cuda:1
dtype: bfloat16
seed: 1234
stages: [collect, train, measure, eval, bench]
collect:
  text: )" + dir.path("train.txt") + R"(
  max_tokens: 20_000
  seq_len: 128
  sample_every: 3
  max_rows: 5000
  store_fc1_values: yes
  batch_windows: 4
  fields: [attn_input, fc1_active, head_norm]
  compression: none
  max_nonfinite: 0.01
train:
  rank_mlp: 48
  rank_att: 16
  epochs: 7
  lr_mlp: 2e-3
  lr_att: 0.0005
  weight_decay: 0
  batch_size: 256
  val_fraction: 0.1
  patience: 2
  stop_recall: 0.95
  att_top_fraction: 0.25
  mlp_input: prev_mlp_input
  att_input: attn_input
  layers: [3, 0, 2]
measure:
  mlp_topk_fractions: [0.1]
  mlp_thresholds: [0.5, 0.25]
  head_keep_fractions: [1]
  norm_share: [0.8, 0.999]
eval:
  text: )" + dir.path("test.txt") + R"(
  max_tokens: 8192
  seq_len: 64
  modes: [oracle]
  mlp_densities: [0.3, 1.0]
  head_densities: [0.5]
  targets: [both, mlp]
  dense_layers: [0, -1]
  tasks:
    - {format: piqa, file: )" + dir.path("test.txt") + R"(}
    - {name: mine, format: jsonl, file: )" + dir.path("test.txt") + R"(}
  task_max_docs: 50
  task_batch: 4
bench:
  shapes: [opt-1.3b, model, opt-175b]
  batch_sizes: [1, 2, 4]
  densities: [0.1]
  prompt_len: 64
  gen_tokens: 32
  head_density: 0.25
)";
  const Experiment e = parse_experiment(yaml, "inline.yaml");
  EXPECT_EQ(e.name, "full");
  EXPECT_EQ(e.output_dir, "/tmp/somewhere");
  EXPECT_EQ(e.device, "cuda:1");
  EXPECT_EQ(e.dtype, "bfloat16");
  EXPECT_EQ(e.seed, 1234);
  EXPECT_EQ(e.stages.size(), 5u);
  EXPECT_EQ(e.collect.max_tokens, 20000);
  EXPECT_EQ(e.collect.seq_len, 128);
  EXPECT_EQ(e.collect.sample_every, 3);
  EXPECT_EQ(e.collect.max_rows, 5000);
  EXPECT_TRUE(e.collect.store_fc1_values);
  EXPECT_EQ(e.collect.batch_windows, 4);
  EXPECT_EQ(e.collect.fields, (std::vector<std::string>{"attn_input", "fc1_active", "head_norm"}));
  EXPECT_EQ(e.collect.compression, "none");
  EXPECT_EQ(e.collect.max_nonfinite, 0.01);
  EXPECT_EQ(e.train.rank_mlp, 48);
  EXPECT_EQ(e.train.rank_att, 16);
  EXPECT_EQ(e.train.epochs, 7);
  EXPECT_EQ(e.train.lr_mlp, 2e-3);
  EXPECT_EQ(e.train.lr_att, 5e-4);
  EXPECT_EQ(e.train.weight_decay, 0.0);
  EXPECT_EQ(e.train.batch_size, 256);
  EXPECT_EQ(e.train.val_fraction, 0.1);
  EXPECT_EQ(e.train.patience, 2);
  EXPECT_EQ(e.train.stop_recall, 0.95);
  EXPECT_EQ(e.train.att_top_fraction, 0.25);
  EXPECT_EQ(e.train.mlp_input, "prev_mlp_input");
  EXPECT_EQ(e.train.att_input, "attn_input");
  EXPECT_EQ(e.train.layers, (std::vector<int64_t>{3, 0, 2}));
  EXPECT_EQ(e.measure.mlp_topk_fractions, (std::vector<double>{0.1}));
  EXPECT_EQ(e.measure.mlp_thresholds, (std::vector<double>{0.5, 0.25}));
  EXPECT_EQ(e.measure.head_keep_fractions, (std::vector<double>{1.0}));
  EXPECT_EQ(e.measure.norm_share, (std::vector<double>{0.8, 0.999}));
  EXPECT_EQ(e.eval.max_tokens, 8192);
  EXPECT_EQ(e.eval.seq_len, 64);
  EXPECT_EQ(e.eval.sweep.modes, (std::vector<std::string>{"oracle"}));
  EXPECT_EQ(e.eval.sweep.mlp_densities, (std::vector<double>{0.3, 1.0}));
  EXPECT_EQ(e.eval.sweep.targets, (std::vector<std::string>{"both", "mlp"}));
  EXPECT_EQ(e.eval.sweep.dense_layers, (std::vector<int64_t>{0, -1}));
  ASSERT_EQ(e.eval.tasks.size(), 2u);
  EXPECT_EQ(e.eval.tasks[0], (EvalTaskSpec{"piqa", "piqa", dir.path("test.txt")}));
  EXPECT_EQ(e.eval.tasks[1], (EvalTaskSpec{"mine", "jsonl", dir.path("test.txt")}));
  EXPECT_EQ(e.eval.task_max_docs, 50);
  EXPECT_EQ(e.eval.task_batch, 4);
  EXPECT_EQ(e.bench.shapes, (std::vector<std::string>{"opt-1.3b", "model", "opt-175b"}));
  EXPECT_TRUE(e.bench.times_model());
  EXPECT_EQ(e.bench.head_density, 0.25);
  EXPECT_EQ(e.bench.batch_sizes, (std::vector<int64_t>{1, 2, 4}));
  EXPECT_EQ(e.bench.prompt_len, 64);
  EXPECT_EQ(e.bench.gen_tokens, 32);
  EXPECT_TRUE(e.bench.text.empty());

  // Resolved YAML -> parse gives the same experiment.
  EXPECT_EQ(parse_experiment(experiment_to_yaml(e), "resolved.yaml"), e);
}

TEST(Experiment, StagesListPicksAndSectionsDefault) {
  ExperimentDir dir;
  // Sections present but not listed do not run; listed stages without a section use defaults.
  const std::string yaml = dir.minimal_yaml() + "stages: [train, measure]\n";
  const Experiment e = parse_experiment(yaml, "x.yaml");
  EXPECT_EQ(e.stages, (std::vector<Stage>{Stage::kTrain, Stage::kMeasure}));
  EXPECT_FALSE(e.runs(Stage::kCollect));
  EXPECT_EQ(e.train, TrainSection{});
  // train/measure alone need no model and no text files.
  const Experiment alone = parse_experiment("train:\nmeasure:\n", "y.yaml");
  EXPECT_EQ(alone.stages, (std::vector<Stage>{Stage::kTrain, Stage::kMeasure}));
  EXPECT_TRUE(alone.model.empty());
}

// Random valid experiments survive experiment_to_yaml -> parse_experiment unchanged, and so do
// the one-stage configs saved beside each stage's output.
TEST(Experiment, ResolvedYamlRoundTripsOnRandomExperiments) {
  ExperimentDir dir;
  std::mt19937_64 rng(std::random_device{}());
  auto pick = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
  auto unit = [&] { return std::uniform_real_distribution<double>(1e-6, 1.0)(rng); };
  auto fractions = [&] {
    std::vector<double> v(static_cast<size_t>(pick(1, 6)));
    for (double& x : v) x = unit();
    std::sort(v.begin(), v.end());
    v.erase(std::unique(v.begin(), v.end()), v.end());
    return v;
  };
  for (int trial = 0; trial < 200; ++trial) {
    Experiment e;
    e.name = "exp" + std::to_string(pick(0, 1000000));
    e.output_dir = dir.path("out/" + e.name);
    e.model = dir.path("model");
    e.device = std::vector<std::string>{"cpu", "cuda", "auto", "cuda:3"}[static_cast<size_t>(pick(0, 3))];
    e.dtype = std::vector<std::string>{"float32", "float16", "bfloat16"}[static_cast<size_t>(pick(0, 2))];
    e.seed = pick(0, int64_t{1} << 40);
    for (Stage s : kAllStages) {
      if (pick(0, 1) == 1) e.stages.push_back(s);
    }
    if (e.stages.empty()) e.stages.push_back(Stage::kMeasure);
    e.collect.text = dir.path("train.txt");
    e.collect.max_tokens = pick(0, 1 << 30);
    e.collect.seq_len = pick(0, 128);
    e.collect.sample_every = pick(1, 50);
    e.collect.store_fc1_values = pick(0, 1) == 1;
    e.train.rank_mlp = pick(0, 2000);
    e.train.lr_mlp = unit();
    e.train.lr_att = unit() * 1e-3;
    e.train.weight_decay = unit() / 3;
    e.train.val_fraction = std::min(0.999, unit());
    e.train.att_top_fraction = unit();
    e.train.mlp_input = std::vector<std::string>{"mlp_input", "attn_input", "prev_mlp_input"}[static_cast<size_t>(pick(0, 2))];
    if (pick(0, 1) == 1) e.train.layers = {pick(0, 1), 3};
    e.measure.norm_share = fractions();
    e.measure.mlp_thresholds = {std::min(0.999, unit())};
    e.eval.text = dir.path("test.txt");
    e.eval.sweep.mlp_densities = fractions();
    e.eval.sweep.modes = pick(0, 1) == 1 ? std::vector<std::string>{"predicted", "dense"} : std::vector<std::string>{"oracle"};
    e.bench.densities = fractions();
    e.bench.batch_sizes = {pick(1, 64)};
    const std::string yaml = experiment_to_yaml(e);
    const Experiment back = parse_experiment(yaml, "resolved.yaml");
    ASSERT_EQ(back, e) << yaml;
    for (Stage s : e.stages) {
      const Experiment one = parse_experiment(stage_config_yaml(e, s), "stage.yaml");
      ASSERT_EQ(one.stages, std::vector<Stage>{s});
      ASSERT_EQ(one.seed, e.seed);
      ASSERT_EQ(one.model, e.model);
      ASSERT_EQ(stage_config_yaml(one, s), stage_config_yaml(e, s));
    }
  }
}

TEST(Experiment, ResolvedYamlIsReadable) {
  ExperimentDir dir;
  const Experiment e = parse_experiment(dir.minimal_yaml() + "train: {}\nmeasure: {}\n", "quick.yaml");
  const std::string yaml = experiment_to_yaml(e);
  EXPECT_NE(yaml.find("lr_mlp: 0.001"), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("norm_share: [0.9, 0.95, 0.99]"), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("layers: all"), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("stages: [collect, train, measure, eval]"), std::string::npos) << yaml;
}

// A stage the experiment does not run, with nothing but defaults in its section, is left out of the resolved
// YAML (a run without bench reports no bench section); a non-default section of an unlisted stage is kept.
TEST(Experiment, ResolvedYamlLeavesOutUnlistedDefaultSections) {
  ExperimentDir dir;
  Experiment e = parse_experiment(dir.minimal_yaml(), "quick.yaml");
  std::string yaml = experiment_to_yaml(e);
  EXPECT_EQ(yaml.find("bench:"), std::string::npos) << yaml;
  EXPECT_EQ(yaml.find("train:"), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("eval:"), std::string::npos) << yaml;
  EXPECT_EQ(parse_experiment(yaml, "resolved.yaml"), e);
  e.bench.batch_sizes = {3};
  yaml = experiment_to_yaml(e);
  EXPECT_NE(yaml.find("bench:"), std::string::npos) << yaml;
  EXPECT_EQ(parse_experiment(yaml, "resolved.yaml"), e);
}

// A shipped experiment, loaded from the repository root as `dejavu run` is (its paths are relative to it),
// with file checks when opt-mini, WikiText-2 and the experiment's own model directory and task files are there
// (the scale experiments name checkpoints a script or a download makes first; the task experiments name the
// stand-in task files scripts/make_standin_tasks.py writes under runs/). Only opt-mini and WikiText-2 are
// dependencies of the suite (tests/common/missing_dependency.h); the others are a user's first step.
struct ShippedExperiment {
  Experiment experiment;
  bool checked_files = false;
  bool model_missing = false;  // its model directory is made by a script or a download (not checked)
  bool tasks_missing = false;  // its eval.tasks files are made by a script (not checked)
};

ShippedExperiment load_shipped(const std::string& root, const std::string& relative_path) {
  const bool have_files = std::filesystem::exists(root + "/data/models/opt-mini/config.json") &&
                          std::filesystem::exists(root + "/../shared/data/wikitext-2/valid.txt");
  const std::filesystem::path cwd = std::filesystem::current_path();
  std::filesystem::current_path(root);
  ShippedExperiment out;
  bool checked = false;
  try {
    out.experiment = load_experiment(relative_path, ParseOptions{false});
    for (const EvalTaskSpec& t : out.experiment.eval.tasks) {
      out.tasks_missing = out.tasks_missing || !std::filesystem::exists(t.file);
    }
    out.model_missing = !out.experiment.model.empty() && !std::filesystem::exists(out.experiment.model);
    checked = have_files && !out.tasks_missing && !out.model_missing;
    if (checked) out.experiment = load_experiment(relative_path, ParseOptions{true});
  } catch (...) {
    std::filesystem::current_path(cwd);
    throw;
  }
  std::filesystem::current_path(cwd);
  out.checked_files = checked;
  return out;
}

std::string source_root() {
  const char* src = std::getenv("DEJAVU_SOURCE_DIR");
  return src != nullptr ? src : ".";
}

TEST(Experiment, QuickstartParses) {
  const std::string root = source_root();
  ASSERT_TRUE(std::filesystem::exists(root + "/experiments/quickstart.yaml")) << root;
  const ShippedExperiment s = load_shipped(root, "experiments/quickstart.yaml");
  const Experiment& e = s.experiment;
  EXPECT_EQ(e.name, "quickstart");
  EXPECT_EQ(e.model, "data/models/opt-mini");
  EXPECT_TRUE(e.runs(Stage::kCollect) && e.runs(Stage::kTrain) && e.runs(Stage::kMeasure) && e.runs(Stage::kEval));
  EXPECT_LE(e.collect.max_tokens, 50000) << "quickstart must stay small enough for 2 CPU cores";
  if (!s.checked_files) DV_MISSING_DEPENDENCY("opt-mini or WikiText-2 missing: parsed without file checks");
}

// Every experiments/*.yaml parses, is named after its file, and its resolved form parses back to it.
TEST(Experiment, EveryShippedExperimentParses) {
  const std::string root = source_root();
  int count = 0;
  bool checked_files = true;
  for (const auto& entry : std::filesystem::directory_iterator(root + "/experiments")) {
    if (entry.path().extension() != ".yaml") continue;
    const std::string rel = "experiments/" + entry.path().filename().string();
    SCOPED_TRACE(rel);
    const ShippedExperiment s = load_shipped(root, rel);
    EXPECT_EQ(s.experiment.name, entry.path().stem().string());
    EXPECT_EQ(parse_experiment(experiment_to_yaml(s.experiment), "resolved.yaml", ParseOptions{false}), s.experiment);
    checked_files = checked_files && (s.checked_files || s.model_missing || s.tasks_missing);
    ++count;
  }
  EXPECT_GE(count, 4);
  if (!checked_files) DV_MISSING_DEPENDENCY("opt-mini or WikiText-2 missing: parsed without file checks");
}

}  // namespace
}  // namespace dv
