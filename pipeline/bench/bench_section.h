// bench_section.h: the bench section of an experiment and the flags of `dejavu bench` named after its keys,
// declared once (pipeline/experiment/option_table.h): defaults here, key, help, range and hash role in
// visit_bench_options; bench_plan.h maps it onto the engine's bench options.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "pipeline/experiment/option_table.h"

namespace dv {

struct BenchSection {
  std::vector<std::string> shapes = {"opt-13b", "opt-30b", "opt-66b"};
  std::vector<int64_t> batch_sizes = {1};
  std::vector<double> densities = {0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0};
  int64_t prompt_len = 128;
  int64_t gen_tokens = 128;
  double head_density = 0.5;
  std::string text;
  bool operator==(const BenchSection& o) const;
  bool times_model() const;  // "model" is listed
};
inline const BenchSection kBenchDefaults{};

// In the order the resolved YAML writes them; shape_names: the built-in OPT shapes and "model".
template <class Section, class Visitor>
void visit_bench_options(Section& s, Visitor& v, const std::vector<std::string>& shape_names) {
  v.choices(s.shapes, {"shapes", "built-in OPT shapes (random fp16 weights) and/or model: the experiment's "
                                 "checkpoint (`dejavu bench --model`) with real selections (the train stage's "
                                 "predictors when train runs)"},
            shape_names);
  v.integers(s.batch_sizes, {"batch_sizes", "decode batch sizes: the checkpoint's rows at each, and swept on the "
                                            "first built-in shape listed"},
             IntRange{1, 4096});
  v.numbers(s.densities, {"densities", "fractions of MLP neurons kept, swept (the first: the predictor rows' and "
                                       "the batch sweep's)"},
            kFraction);
  v.integer(s.prompt_len, {"prompt_len", "prompt tokens before timing"}, IntRange{1, 1 << 20});
  v.integer(s.gen_tokens, {"gen_tokens", "decoded tokens timed"}, IntRange{1, 1 << 20});
  v.number(s.head_density, {"head_density", "fraction of heads kept at every sparse point"}, kFraction);
  v.text(s.text, {"text", "model: UTF-8 text for the prompt and decoded tokens; empty = a built-in passage", true,
                  false});
}

}  // namespace dv
