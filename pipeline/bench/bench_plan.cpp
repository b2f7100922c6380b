// bench_plan.cpp: see bench_plan.h.
#include "pipeline/bench/bench_plan.h"

namespace dv::cli {

void apply_bench_section(const BenchSection& s, engine::DecodeBenchOptions& o) {
  o.shapes.clear();
  for (const std::string& shape : s.shapes)
    if (shape != "model") o.shapes.push_back(shape);
  if (!o.shapes.empty()) o.batch_shape = o.shapes.front();
  o.batch_sizes.assign(s.batch_sizes.begin(), s.batch_sizes.end());
  o.mlp_densities = s.densities;
  o.mlp_density = s.densities.front();
  o.head_density = s.head_density;
  o.prompt_len = static_cast<int>(s.prompt_len);
  o.iters = static_cast<int>(s.gen_tokens);
}

void apply_bench_section(const BenchSection& s, ModelBenchArgs& m) {
  m.text = s.text;
  m.mlp_densities = s.densities;
  m.head_density = s.head_density;
  m.batch_sizes.assign(s.batch_sizes.begin(), s.batch_sizes.end());
  m.prompt_len = static_cast<int>(s.prompt_len);
  m.iters = static_cast<int>(s.gen_tokens);
}

}  // namespace dv::cli
