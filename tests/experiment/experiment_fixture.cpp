// experiment_fixture.cpp: scratch files for the experiment tests.
#include "tests/experiment/experiment_fixture.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <vector>

#include "kernels/common/error.h"

namespace dv::test {

ExperimentDir::ExperimentDir() {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = std::string(tmp != nullptr && *tmp ? tmp : "/tmp") + "/dv_experiment_test_XXXXXX";
  std::vector<char> buf(pattern.begin(), pattern.end());
  buf.push_back('\0');
  DV_CHECK(::mkdtemp(buf.data()) != nullptr, "mkdtemp failed");
  root_ = buf.data();
  std::filesystem::create_directories(path("model"));
  write("model/config.json",
        R"({"model_type": "opt", "vocab_size": 50272, "hidden_size": 64, "ffn_dim": 256, "num_hidden_layers": 4,
            "num_attention_heads": 4, "max_position_embeddings": 128, "activation_function": "relu"})");
  write("train.txt", "The quick brown fox jumps over the lazy dog.\n");
  write("test.txt", "A second text, for perplexity.\n");
}

ExperimentDir::~ExperimentDir() {
  std::error_code ec;
  std::filesystem::remove_all(root_, ec);
}

std::string ExperimentDir::write(const std::string& name, const std::string& text) const {
  const std::string p = path(name);
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
  DV_CHECK(out.good(), "{}: write failed", p);
  return p;
}

std::string ExperimentDir::minimal_yaml() const {
  return "model: " + path("model") + "\ncollect:\n  text: " + path("train.txt") + "\neval:\n  text: " +
         path("test.txt") + "\n";
}

}  // namespace dv::test
