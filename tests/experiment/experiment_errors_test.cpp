// experiment_errors_test.cpp: a table of broken experiment files. Each must fail with one
// dv::Error line that starts with the file name (and, where the YAML has one, its line), names
// the key path, and says what is wrong; none may crash or be accepted.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "kernels/common/error.h"
#include "pipeline/experiment/experiment.h"
#include "tests/experiment/experiment_fixture.h"

namespace dv {
namespace {

using test::ExperimentDir;

struct BadCase {
  const char* label;
  std::string yaml;                     // {model}, {train}, {test}, {dir} are replaced by scratch paths
  std::vector<std::string> expect;      // substrings of the message, besides the file name
};

std::string fill(std::string s, const ExperimentDir& d) {
  const std::pair<std::string, std::string> subs[] = {{"{model}", d.path("model")},
                                                      {"{train}", d.path("train.txt")},
                                                      {"{test}", d.path("test.txt")},
                                                      {"{dir}", d.root()}};
  for (const auto& [from, to] : subs) {
    for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) s.replace(at, from.size(), to);
  }
  return s;
}

const std::string kHead = "model: {model}\ncollect:\n  text: {train}\n";

std::vector<BadCase> bad_cases() {
  return {
      {"integer given a word", kHead + "  max_tokens: lots\n", {":4: collect.max_tokens: expected an integer, got \"lots\""}},
      {"integer given a fraction", kHead + "  max_tokens: 12.5\n", {"collect.max_tokens", "expected an integer"}},
      {"integer given a quoted number", kHead + "  max_tokens: \"100\"\n", {"collect.max_tokens", "expected an integer"}},
      {"integer in exponent form", "train:\n  epochs: 1e3\n", {":2: train.epochs", "expected an integer"}},
      {"integer left empty", kHead + "  max_tokens:\n", {":4: collect.max_tokens", "got nothing (null)"}},
      {"integer below range", kHead + "  sample_every: 0\n", {"collect.sample_every", "must be >= 1, got 0"}},
      {"negative token count", kHead + "  max_tokens: -5\n", {"collect.max_tokens", "must be >= 0"}},
      {"integer too large", kHead + "  max_tokens: 99999999999999999999\n", {"collect.max_tokens", "out of range"}},
      {"boolean given a word", kHead + "  store_fc1_values: maybe\n", {"collect.store_fc1_values", "true or false"}},
      {"unknown compression", kHead + "  compression: zstd\n", {"collect.compression", "gzip", "zstd"}},
      {"unknown store field", kHead + "  fields: [attn_input, fc1_value]\n", {"collect.fields", "fc1_value"}},
      {"unknown key in a section", kHead + "  tokens: 100\n", {":4: collect.tokens: unknown key", "did you mean 'max_tokens'"}},
      {"unknown top-level key", kHead + "modle: x\n", {":4: modle: unknown key", "did you mean 'model'"}},
      {"section that is not a mapping", "model: {model}\ncollect: 5\n", {":2: collect: expected a mapping", "\"5\""}},
      {"learning rate zero", "train:\n  lr_mlp: 0\n", {"train.lr_mlp", "must be in (0, 1], got 0"}},
      {"learning rate not a number", "train:\n  lr_att: fast\n", {"train.lr_att", "expected a finite number"}},
      {"learning rate infinite", "train:\n  lr_att: .inf\n", {"train.lr_att", "expected a finite number"}},
      {"validation fraction one", "train:\n  val_fraction: 1\n", {"train.val_fraction", "must be in (0, 1)"}},
      {"unknown predictor input", "train:\n  mlp_input: residual\n", {"train.mlp_input", "expected one of mlp_input"}},
      {"head predictor on the MLP input", "train:\n  att_input: mlp_input\n", {"train.att_input", "expected one of"}},
      {"layers given a word", "train:\n  layers: some\n", {"train.layers", "\"all\" or a list"}},
      {"layer listed twice", "train:\n  layers: [1, 1]\n", {"train.layers[1]", "listed twice"}},
      {"layer beyond the model", kHead + "train:\n  layers: [0, 7]\n", {"train.layers[1]", "layer 7 does not exist", "4 layers"}},
      {"empty sweep", "measure:\n  norm_share: []\n", {":2: measure.norm_share", "empty list"}},
      {"sweep given a scalar", "measure:\n  norm_share: 0.9\n", {"measure.norm_share", "expected a list"}},
      {"sweep value out of range", "measure:\n  norm_share: [0.9, 1.5]\n", {"measure.norm_share[1]", "must be in (0, 1], got 1.5"}},
      {"threshold of one", "measure:\n  mlp_thresholds: [0.5, 1]\n", {"measure.mlp_thresholds[1]", "(0, 1)"}},
      {"sweep value repeated", "measure:\n  head_keep_fractions: [0.5, 0.5]\n", {"measure.head_keep_fractions[1]", "listed twice"}},
      {"unknown eval mode", "model: {model}\neval:\n  text: {test}\n  modes: [dense, sparse]\n",
       {":4: eval.modes[1]", "expected one of dense, oracle, predicted, got \"sparse\""}},
      {"eval mode repeated", "model: {model}\neval:\n  text: {test}\n  modes: [dense, dense]\n", {"eval.modes[1]", "listed twice"}},
      {"eval dense layer not an integer", "model: {model}\neval:\n  text: {test}\n  dense_layers: [0, last]\n",
       {":4: eval.dense_layers[1]", "integer"}},
      {"eval dense layer repeated", "model: {model}\neval:\n  text: {test}\n  dense_layers: [2, 2]\n",
       {"eval.dense_layers[1]", "listed twice"}},
      {"eval task of an unknown format", "model: {model}\neval:\n  text: {test}\n  tasks:\n    - {format: mmlu, file: {test}}\n",
       {":5: eval.tasks[0].format", "expected one of cb, copa"}},
      {"eval task without a file", "model: {model}\neval:\n  text: {test}\n  tasks:\n    - {format: piqa}\n",
       {"eval.tasks[0]", "needs file:"}},
      {"eval task file missing", "model: {model}\neval:\n  text: {test}\n  tasks:\n    - {format: piqa, file: {dir}/none.jsonl}\n",
       {"eval.tasks[0].file", "no such file", "make_standin_tasks.py"}},
      {"eval task named twice", "model: {model}\neval:\n  text: {test}\n  tasks:\n    - {format: piqa, file: {test}}\n"
       "    - {format: piqa, file: {test}}\n", {"eval.tasks[1]", "a second task named 'piqa'"}},
      {"eval task unknown key", "model: {model}\neval:\n  text: {test}\n  tasks:\n    - {format: piqa, file: {test}, shots: 5}\n",
       {"eval.tasks[0].shots", "unknown key"}},
      {"empty eval targets", "model: {model}\neval:\n  text: {test}\n  targets: []\n", {"eval.targets", "empty list"}},
      {"unknown bench shape", "bench:\n  shapes: [opt-7b]\n", {"bench.shapes[0]", "opt-13b", "\"opt-7b\""}},
      {"bench batch size zero", "bench:\n  batch_sizes: [0]\n", {"bench.batch_sizes[0]", "must be >= 1"}},
      {"bench of the model without a model", "bench:\n  shapes: [model]\n", {"model", "required by the bench"}},
      {"bench head density zero", "bench:\n  head_density: 0\n", {"bench.head_density", "(0, 1]"}},
      {"bench text missing", "bench:\n  text: {dir}/missing.txt\n", {":2: bench.text", "no such file"}},
      {"unknown device", kHead + "device: gpu\n", {":4: device", "cpu, cuda, cuda:N, auto", "\"gpu\""}},
      {"unknown dtype", kHead + "dtype: fp16\n", {"dtype", "float32, float16, bfloat16"}},
      {"negative seed", kHead + "seed: -1\n", {"seed", "must be >= 0"}},
      {"stages out of order", kHead + "stages: [train, collect]\n", {"stages[1]", "listed after 'train'"}},
      {"stage repeated", kHead + "stages: [collect, collect]\n", {"stages[1]", "listed twice"}},
      {"unknown stage", kHead + "stages: [deploy]\n", {"stages[0]", "expected one of collect, train"}},
      {"empty stage list", kHead + "stages: []\n", {"stages", "empty list"}},
      {"no stages at all", "model: {model}\nseed: 3\n", {"no stages to run"}},
      {"model directory missing", "model: {dir}/nope\ncollect:\n  text: {train}\n", {":1: model", "no such directory"}},
      {"model without config.json", "model: {dir}\ncollect:\n  text: {train}\n", {":1: model", "has no config.json"}},
      {"model with a broken config.json", "model: {dir}/broken\ncollect:\n  text: {train}\n", {":1: model", "config.json", "not valid JSON"}},
      {"model missing for collect", "collect:\n  text: {train}\n", {"model", "required by the collect stage"}},
      {"collect text missing", "model: {model}\ncollect:\n  text: {dir}/missing.txt\n", {":3: collect.text", "no such file"}},
      {"collect text empty", "model: {model}\ncollect:\n  text: {dir}/empty.txt\n", {"collect.text", "is empty"}},
      {"collect without text", "model: {model}\ncollect:\n  max_tokens: 5\n", {"collect.text", "required when the collect stage runs"}},
      {"eval without text", "model: {model}\neval:\n  seq_len: 16\n", {"eval.text", "required when the eval stage runs"}},
      {"empty string", "model: {model}\ncollect:\n  text: \"\"\n", {"collect.text", "must not be empty"}},
      {"window longer than the model's", kHead + "  seq_len: 4096\n", {":4: collect.seq_len", "exceeds the model's max_position_embeddings 128"}},
      {"duplicate key", kHead + "  max_tokens: 5\n  max_tokens: 6\n", {":5: collect.max_tokens", "duplicate key"}},
      {"bad name", kHead + "name: ../escape\n", {"name", "letters, digits"}},
      {"control character in a path", "model: \"{dir}/a\\nb\"\ncollect:\n  text: {train}\n", {"model", "control characters"}},
      {"invalid UTF-8 in a path", "model: \"\xff\xfe\"\n", {"model", "UTF-8"}},
      {"newline inside a bad value stays on one line", kHead + "  max_tokens: \"a\\nb\"\n", {"collect.max_tokens", "\\x0a"}},
      {"YAML syntax error", "collect: [unclosed\n", {"invalid YAML"}},
      {"unclosed list named at its own line, not where yaml-cpp noticed it",
       "model: {model}\nstages: [collect\ncollect:\n  text: {train}\n", {":2:9: invalid YAML", "'[' is never closed"}},
      {"top level is a list", "- collect\n- train\n", {"expected a mapping"}},
      {"empty file", "", {"is empty"}},
  };
}

TEST(ExperimentErrors, EveryBadFileGetsAOneLineErrorNamingFileAndKey) {
  ExperimentDir dir;
  std::filesystem::create_directories(dir.path("broken"));
  dir.write("broken/config.json", "{ not json");
  dir.write("empty.txt", "");
  const std::vector<BadCase> cases = bad_cases();
  ASSERT_GE(cases.size(), 50u);
  for (const BadCase& c : cases) {
    SCOPED_TRACE(c.label);
    const std::string file = dir.write("bad.yaml", fill(c.yaml, dir));
    try {
      load_experiment(file);
      ADD_FAILURE() << "accepted:\n" << fill(c.yaml, dir);
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_EQ(msg.rfind(file, 0), 0u) << "does not start with the file name: " << msg;
      EXPECT_EQ(msg.find('\n'), std::string::npos) << "not one line: " << msg;
      for (const std::string& want : c.expect) {
        EXPECT_NE(msg.find(fill(want, dir)), std::string::npos) << "'" << want << "' missing from: " << msg;
      }
    }
  }
}

TEST(ExperimentErrors, MissingExperimentFile) {
  try {
    load_experiment("/nonexistent/dir/x.yaml");
    ADD_FAILURE() << "accepted a missing file";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/dir/x.yaml: no such experiment file"), std::string::npos);
  }
}

TEST(ExperimentErrors, FileChecksCanBeSkipped) {
  // What fuzzing and schema-only tests rely on: no filesystem access, yet every schema check.
  const std::string yaml = "model: /nowhere\ncollect:\n  text: /nowhere.txt\n";
  const Experiment e = parse_experiment(yaml, "x.yaml", ParseOptions{false});
  EXPECT_EQ(e.collect.text, "/nowhere.txt");
  EXPECT_THROW(parse_experiment(yaml + "  sample_every: 0\n", "x.yaml", ParseOptions{false}), Error);
}

}  // namespace
}  // namespace dv
