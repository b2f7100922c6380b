// run_checks.cpp: device availability, the inputs a run reads, and the eval-on-training-text warning.
#include "pipeline/run/run_checks.h"

#include <cstdio>
#include <filesystem>

#include <fmt/format.h>
#include <torch/cuda.h>

#include "engine/io/warning_log.h"

#include "engine/io/checkpoint.h"
#include "engine/tokenizer/bpe_tokenizer.h"
#include "engine/tokenizer/text_file.h"
#include "kernels/common/error.h"
#include "pipeline/store/activation_reader.h"

namespace dv {

void check_run_device(const Experiment& e, const std::string& experiment_file) {
  if (e.device.rfind("cuda", 0) != 0) return;
  DV_CHECK(torch::cuda::is_available(),
           "{}: device: {}: no CUDA GPU is visible on this machine (use device: cpu, or auto to take a GPU when there "
           "is one)",
           experiment_file, e.device);
}

void InputCheck::once(const std::string& path, const std::function<void()>& check) {
  if (!done_.insert(path).second) return;
  check();
}

void InputCheck::checkpoint(const std::string& dir, const std::string& key) {
  once(dir, [&] {
    try {
      const Checkpoint ckpt(dir);
      BpeTokenizer::load(dir);
    } catch (const Error& e) {
      throw Error(fmt::format("{}: {}", key, e.what()));
    }
  });
}

void InputCheck::store(const std::string& path) {
  once(path, [&] {
    if (std::filesystem::exists(path)) ActivationReader reader(path);
  });
}

void InputCheck::text(const std::string& path, const std::string& key) {
  once(path, [&] { check_text_file(path, key); });
}

void warn_about_experiment(const Experiment& e, const std::string& experiment_file) {
  if (!(e.runs(Stage::kCollect) && e.runs(Stage::kTrain) && e.runs(Stage::kEval))) return;
  std::error_code ec;
  if (!std::filesystem::equivalent(e.collect.text, e.eval.text, ec) || ec) return;
  warn(fmt::format("{}: eval.text is collect.text ({}), the text the predictors were trained on: 'predicted' "
                   "perplexity then measures fit to training data, not accuracy on new text (use a held-out file, "
                   "e.g. WikiText-2 test)",
                   experiment_file, e.eval.text));
}

}  // namespace dv
