// experiment_yaml.cpp: YAML emission of experiments. Numbers are written in their shortest
// round-trip form (fmt's "{}"), so 0.1 stays 0.1 and parses back to the same double.
#include "pipeline/experiment/experiment_yaml.h"

#include <yaml-cpp/yaml.h>

#include <fmt/format.h>

namespace dv {

namespace {

std::string num(double v) { return fmt::format("{}", v); }

template <typename T>
void emit_list(YAML::Emitter& out, const char* key, const std::vector<T>& values) {
  out << YAML::Key << key << YAML::Value << YAML::Flow << YAML::BeginSeq;
  for (const T& v : values) {
    if constexpr (std::is_same_v<T, double>) {
      out << num(v);
    } else {
      out << v;
    }
  }
  out << YAML::EndSeq;
}

void emit_section(YAML::Emitter& out, const Experiment& e, Stage s) {
  out << YAML::Key << stage_name(s) << YAML::Value << YAML::BeginMap;
  switch (s) {
    case Stage::kCollect: {
      const CollectSection& c = e.collect;
      if (!c.text.empty()) out << YAML::Key << "text" << YAML::Value << c.text;
      out << YAML::Key << "max_tokens" << YAML::Value << c.max_tokens;
      out << YAML::Key << "seq_len" << YAML::Value << c.seq_len;
      out << YAML::Key << "sample_every" << YAML::Value << c.sample_every;
      out << YAML::Key << "max_rows" << YAML::Value << c.max_rows;
      out << YAML::Key << "store_fc1_values" << YAML::Value << c.store_fc1_values;
      out << YAML::Key << "batch_windows" << YAML::Value << c.batch_windows;
      // Written only when set, so that the configs (and stage hashes) of existing experiments stay as they were.
      if (!c.fields.empty()) {
        out << YAML::Key << "fields" << YAML::Value << YAML::Flow << YAML::BeginSeq;
        for (const std::string& f : c.fields) out << f;
        out << YAML::EndSeq;
      }
      if (c.compression != "gzip") out << YAML::Key << "compression" << YAML::Value << c.compression;
      if (c.max_nonfinite != 0.001) out << YAML::Key << "max_nonfinite" << YAML::Value << num(c.max_nonfinite);
      break;
    }
    case Stage::kTrain: {
      const TrainSection& t = e.train;
      out << YAML::Key << "rank_mlp" << YAML::Value << t.rank_mlp;
      out << YAML::Key << "rank_att" << YAML::Value << t.rank_att;
      out << YAML::Key << "epochs" << YAML::Value << t.epochs;
      out << YAML::Key << "lr_mlp" << YAML::Value << num(t.lr_mlp);
      out << YAML::Key << "lr_att" << YAML::Value << num(t.lr_att);
      out << YAML::Key << "weight_decay" << YAML::Value << num(t.weight_decay);
      out << YAML::Key << "batch_size" << YAML::Value << t.batch_size;
      out << YAML::Key << "val_fraction" << YAML::Value << num(t.val_fraction);
      out << YAML::Key << "patience" << YAML::Value << t.patience;
      out << YAML::Key << "stop_recall" << YAML::Value << num(t.stop_recall);
      out << YAML::Key << "att_top_fraction" << YAML::Value << num(t.att_top_fraction);
      out << YAML::Key << "mlp_input" << YAML::Value << t.mlp_input;
      out << YAML::Key << "att_input" << YAML::Value << t.att_input;
      if (t.layers.empty()) {
        out << YAML::Key << "layers" << YAML::Value << "all";
      } else {
        emit_list(out, "layers", t.layers);
      }
      break;
    }
    case Stage::kMeasure: {
      const MeasureSection& m = e.measure;
      emit_list(out, "mlp_topk_fractions", m.mlp_topk_fractions);
      emit_list(out, "mlp_thresholds", m.mlp_thresholds);
      emit_list(out, "head_keep_fractions", m.head_keep_fractions);
      emit_list(out, "norm_share", m.norm_share);
      break;
    }
    case Stage::kEval: {
      const EvalSection& v = e.eval;
      if (!v.text.empty()) out << YAML::Key << "text" << YAML::Value << v.text;
      out << YAML::Key << "max_tokens" << YAML::Value << v.max_tokens;
      out << YAML::Key << "seq_len" << YAML::Value << v.seq_len;
      emit_list(out, "modes", v.modes);
      emit_list(out, "mlp_densities", v.mlp_densities);
      emit_list(out, "head_densities", v.head_densities);
      emit_list(out, "targets", v.targets);
      // Only when set, so that experiments without it keep their stage hashes.
      if (!v.dense_layers.empty()) emit_list(out, "dense_layers", v.dense_layers);
      if (v.engine != "reference") out << YAML::Key << "engine" << YAML::Value << v.engine;
      if (!v.tasks.empty()) {
        out << YAML::Key << "tasks" << YAML::Value << YAML::BeginSeq;
        for (const EvalTaskSpec& t : v.tasks)
          out << YAML::Flow << YAML::BeginMap << YAML::Key << "name" << YAML::Value << t.name << YAML::Key << "format"
              << YAML::Value << t.format << YAML::Key << "file" << YAML::Value << t.file << YAML::EndMap;
        out << YAML::EndSeq;
        out << YAML::Key << "task_max_docs" << YAML::Value << v.task_max_docs;
        out << YAML::Key << "task_batch" << YAML::Value << v.task_batch;
      }
      break;
    }
    case Stage::kBench: {
      const BenchSection& b = e.bench;
      emit_list(out, "shapes", b.shapes);
      emit_list(out, "batch_sizes", b.batch_sizes);
      emit_list(out, "densities", b.densities);
      out << YAML::Key << "prompt_len" << YAML::Value << b.prompt_len;
      out << YAML::Key << "gen_tokens" << YAML::Value << b.gen_tokens;
      out << YAML::Key << "head_density" << YAML::Value << num(b.head_density);
      if (!b.text.empty()) out << YAML::Key << "text" << YAML::Value << b.text;
      break;
    }
  }
  out << YAML::EndMap;
}

void emit_globals(YAML::Emitter& out, const Experiment& e) {
  if (!e.model.empty()) out << YAML::Key << "model" << YAML::Value << e.model;
  out << YAML::Key << "device" << YAML::Value << e.device;
  out << YAML::Key << "dtype" << YAML::Value << e.dtype;
  out << YAML::Key << "seed" << YAML::Value << e.seed;
}

std::string finish(YAML::Emitter& out) { return std::string(out.c_str()) + "\n"; }

}  // namespace

std::string experiment_to_yaml(const Experiment& e) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "name" << YAML::Value << e.name;
  out << YAML::Key << "output_dir" << YAML::Value << e.output_dir;
  emit_globals(out, e);
  std::vector<std::string> stages;
  for (Stage s : e.stages) stages.push_back(stage_name(s));
  emit_list(out, "stages", stages);
  for (Stage s : kAllStages) emit_section(out, e, s);
  out << YAML::EndMap;
  return finish(out);
}

std::string stage_config_yaml(const Experiment& e, Stage stage) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  emit_globals(out, e);
  emit_list(out, "stages", std::vector<std::string>{stage_name(stage)});
  emit_section(out, e, stage);
  out << YAML::EndMap;
  return finish(out);
}

}  // namespace dv
