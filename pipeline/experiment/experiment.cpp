// experiment.cpp: stage names, and equality of the experiment structs (the resolved-YAML round
// trip is checked with it).
#include "pipeline/experiment/experiment.h"

#include <algorithm>
#include <tuple>

namespace dv {

const char* stage_name(Stage s) {
  switch (s) {
    case Stage::kCollect: return "collect";
    case Stage::kTrain: return "train";
    case Stage::kMeasure: return "measure";
    case Stage::kEval: return "eval";
    case Stage::kBench: return "bench";
  }
  return "?";
}

bool Experiment::runs(Stage s) const { return std::find(stages.begin(), stages.end(), s) != stages.end(); }

bool CollectSection::operator==(const CollectSection& o) const {
  return std::tie(text, max_tokens, seq_len, sample_every, max_rows, store_fc1_values, batch_windows, fields,
                  compression, max_nonfinite) ==
         std::tie(o.text, o.max_tokens, o.seq_len, o.sample_every, o.max_rows, o.store_fc1_values, o.batch_windows,
                  o.fields, o.compression, o.max_nonfinite);
}

bool TrainSection::operator==(const TrainSection& o) const {
  return std::tie(rank_mlp, rank_att, epochs, lr_mlp, lr_att, weight_decay, batch_size, val_fraction, patience,
                  stop_recall, att_top_fraction, mlp_input, att_input, layers) ==
         std::tie(o.rank_mlp, o.rank_att, o.epochs, o.lr_mlp, o.lr_att, o.weight_decay, o.batch_size, o.val_fraction,
                  o.patience, o.stop_recall, o.att_top_fraction, o.mlp_input, o.att_input, o.layers);
}

bool MeasureSection::operator==(const MeasureSection& o) const {
  return std::tie(mlp_topk_fractions, mlp_thresholds, head_keep_fractions, norm_share) ==
         std::tie(o.mlp_topk_fractions, o.mlp_thresholds, o.head_keep_fractions, o.norm_share);
}

bool EvalSection::operator==(const EvalSection& o) const {
  return std::tie(text, max_tokens, seq_len, modes, mlp_densities, head_densities, targets, dense_layers, engine, tasks,
                  task_max_docs, task_batch) ==
         std::tie(o.text, o.max_tokens, o.seq_len, o.modes, o.mlp_densities, o.head_densities, o.targets,
                  o.dense_layers, o.engine, o.tasks, o.task_max_docs, o.task_batch);
}

bool BenchSection::operator==(const BenchSection& o) const {
  return std::tie(shapes, batch_sizes, densities, prompt_len, gen_tokens, head_density, text) ==
         std::tie(o.shapes, o.batch_sizes, o.densities, o.prompt_len, o.gen_tokens, o.head_density, o.text);
}

bool BenchSection::times_model() const { return std::find(shapes.begin(), shapes.end(), "model") != shapes.end(); }

bool Experiment::operator==(const Experiment& o) const {
  return std::tie(name, output_dir, model, device, dtype, seed, stages, collect, train, measure, eval, bench) ==
         std::tie(o.name, o.output_dir, o.model, o.device, o.dtype, o.seed, o.stages, o.collect, o.train, o.measure,
                  o.eval, o.bench);
}

}  // namespace dv
