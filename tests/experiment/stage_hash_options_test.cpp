// stage_hash_options_test.cpp: which options enter a stage's hash (OptionInfo::hashed). Every option of every
// table, one at a time: changing one that enters the hash changes the hash `dejavu run` compares (the stage runs
// again), changing one outside it (throughput only: collect.batch_windows, eval.task_batch) leaves it as it was
// (the stage is skipped). And the hashes of configs written before these options left the hash are unchanged.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine/io/opt_config.h"
#include "pipeline/experiment/content_hash.h"
#include "pipeline/experiment/experiment.h"
#include "pipeline/experiment/experiment_yaml.h"
#include "pipeline/experiment/option_text.h"
#include "pipeline/experiment/sha256.h"
#include "tests/experiment/experiment_fixture.h"

namespace dv {
namespace {

// Changes the option at `target` (table order) to another value of its kind; records whether it is hashed.
class ChangeOption : public EachOption<ChangeOption> {
 public:
  explicit ChangeOption(size_t target) : target_(target) {}
  bool hashed = true;
  std::string key;

  template <class T>
  void field(T& v, const OptionInfo& info) {
    if (index_++ != target_) return;
    hashed = info.hashed;
    key = info.key;
    change(v);
  }

 private:
  static void change(int64_t& v) { v += 1; }
  static void change(double& v) { v += 0.5; }
  static void change(bool& v) { v = !v; }
  static void change(std::string& v) { v += "x"; }
  template <class E>
  static void change(std::vector<E>& v) {
    v.push_back(another(static_cast<const E*>(nullptr)));
  }
  static int64_t another(const int64_t*) { return 7; }
  static double another(const double*) { return 0.375; }
  static std::string another(const std::string*) { return "x"; }
  static EvalTaskSpec another(const EvalTaskSpec*) { return {"t", "jsonl", "t.jsonl"}; }

  size_t target_;
  size_t index_ = 0;
};

// Visits the options of `stage`'s section, or the top-level keys (stage null).
template <class Visitor>
void visit_stage(Experiment& e, const Stage* stage, Visitor& v) {
  if (stage == nullptr) return visit_global_options(e, v);
  switch (*stage) {
    case Stage::kCollect: return visit_collect_options(e.collect, v);
    case Stage::kTrain: return visit_train_options(e.train, v);
    case Stage::kMeasure: return visit_measure_options(e.measure, v);
    case Stage::kEval: return visit_eval_options(e.eval, v);
    case Stage::kBench: return visit_bench_options(e.bench, v, opt_builtin_names());
  }
}

TEST(StageHashOptions, AnOptionInTheHashRerunsTheStageAndAnotherDoesNot) {
  test::ExperimentDir dir;
  const Experiment e = parse_experiment(dir.minimal_yaml() + "train: {}\nmeasure: {}\nbench: {}\n", "x.yaml");
  int outside = 0;
  for (Stage s : kAllStages) {
    const std::vector<std::string> inputs = {dir.path("train.txt")};
    const std::string before = run_stage_hash(e, s, inputs, dir.path("run"));
    for (const Stage* table : std::vector<const Stage*>{nullptr, &s}) {
      Experiment counted = e;
      OptionTexts rows;
      visit_stage(counted, table, rows);
      for (size_t i = 0; i < rows.rows.size(); ++i) {
        Experiment changed = e;
        ChangeOption change(i);
        visit_stage(changed, table, change);
        const std::string after = run_stage_hash(changed, s, inputs, dir.path("run"));
        if (change.hashed) {
          EXPECT_NE(after, before) << stage_name(s) << ": changing " << change.key << " must run the stage again";
        } else {
          EXPECT_EQ(after, before) << stage_name(s) << ": " << change.key << " is outside the hash";
          ++outside;
        }
      }
    }
  }
  EXPECT_EQ(outside, 2);  // collect.batch_windows, eval.task_batch
}

// Hashed configs as the code before batch_windows and task_batch left the hash wrote them (the shipped
// quickstart experiment's stages, sha256 of stage_config_yaml(hashed_only)): unchanged for the defaults, and now
// also whatever those two options say, so run folders made before keep their stage.hash.
TEST(StageHashOptions, ConfigsHashAsTheyDidBeforeOptionsLeftTheHash) {
  const std::string globals = "model: data/models/opt-mini\ndevice: auto\ndtype: float32\nseed: 0\n";
  const std::string collect =
      "collect: {text: ../shared/data/wikitext-2/valid.txt, max_tokens: 24576, seq_len: 512, sample_every: 2, "
      "store_fc1_values: true, batch_windows: 4}\n";
  const std::string eval =
      "eval: {text: ../shared/data/wikitext-2/test.txt, max_tokens: 4096, modes: [dense, oracle, predicted], "
      "targets: [mlp], mlp_densities: [0.5, 0.25, 0.1], dense_layers: [0], task_batch: 3}\n";
  const Experiment e = parse_experiment(globals + collect + "train: {epochs: 20}\nmeasure: {}\n" + eval,
                                        "quickstart.yaml", ParseOptions{false});
  auto hashed_config = [&](Stage s) { return sha256_hex(stage_config_yaml(e, s, /*hashed_only=*/true)); };
  EXPECT_EQ(hashed_config(Stage::kCollect), "3856e37ca86e33557a105aa3984942f7ea81be660c777c3bbb1e85f04e0bf55d");
  EXPECT_EQ(hashed_config(Stage::kTrain), "2030a68fa5c429980a49b17ee94cd602b457837dbdbbf08b27bdfeb6939eecd3");
  EXPECT_EQ(hashed_config(Stage::kMeasure), "609edb1d74378d409d6cb12417b8f15dfcf9a72996a988815eac5e4d385c4123");
  EXPECT_EQ(hashed_config(Stage::kEval), "9b5da8fd02b4af83b1baf925dbc9c0d50a7cd36557ef34b120d5fc11864a8f5f");
  // The resolved config beside the results still says what ran.
  EXPECT_NE(stage_config_yaml(e, Stage::kCollect).find("batch_windows: 4"), std::string::npos);
  EXPECT_NE(stage_config_yaml(e, Stage::kEval).find("task_batch: 3"), std::string::npos);
}

}  // namespace
}  // namespace dv
