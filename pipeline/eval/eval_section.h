// eval_section.h: the eval section of an experiment (the perplexity sweep and the zero-shot tasks scored over
// it) and the flags of `dejavu eval` named after its keys, declared once (pipeline/experiment/option_table.h):
// defaults here, key, help, range and hash role in visit_eval_options.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "pipeline/experiment/option_table.h"
#include "pipeline/scoring/sweep_spec.h"

namespace dv {

// One zero-shot task of eval.tasks: a file in a public layout, read by the reader `format` (pipeline/tasks).
struct EvalTaskSpec {
  std::string name;    // how results name it; default: the format
  std::string format;  // cb | copa | hellaswag | lambada | openbookqa | piqa | rte | winogrande | jsonl
  std::string file;    // the task file, unchanged from its public release (pipeline/tasks/README.md)
  bool operator==(const EvalTaskSpec& o) const { return name == o.name && format == o.format && file == o.file; }
};

struct EvalSection {
  std::string text;
  int64_t max_tokens = 0;
  int64_t seq_len = 0;
  EvalSweep sweep;  // modes, mlp_densities, head_densities, targets, dense_layers (sweep_spec.h)
  std::string engine = "reference";
  std::vector<EvalTaskSpec> tasks;
  int64_t task_max_docs = 0;
  int64_t task_batch = 16;
  bool operator==(const EvalSection& o) const;
};
inline const EvalSection kEvalDefaults{};

// In the order the resolved YAML writes them.
template <class Section, class Visitor>
void visit_eval_options(Section& s, Visitor& v) {
  v.text(s.text, {"text", "UTF-8 text for perplexity (required when eval runs)", true, false});
  v.integer(s.max_tokens, {"max_tokens", "tokens evaluated; 0 = the whole file"}, IntRange{0});
  v.integer(s.seq_len, {"seq_len", "window length; 0 = min(max_position_embeddings, 2048)"}, IntRange{0, 1 << 20});
  visit_sweep_options(s.sweep, v);
  v.choice(s.engine, {"engine", "who scores: reference (LibTorch masks) | cuda (the engine's own selections)", true,
                      false},
           {"reference", "cuda"});
  v.task_list(s.tasks, {"tasks", "zero-shot tasks scored at every point too (tasks.csv): {name, format, file}",
                        true, false});
  v.integer(s.task_max_docs, {"task_max_docs", "documents per task; 0 = all", true, false}, IntRange{0});
  v.integer(s.task_batch, {"task_batch", "task sequences per forward (throughput only)", false, false},
            IntRange{1, 4096});
}

}  // namespace dv
