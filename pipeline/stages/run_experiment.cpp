// run_experiment.cpp: maps each experiment section onto its stage's options and runs it, skipping
// stages whose inputs and config are unchanged.
#include "pipeline/stages/run_experiment.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "engine/io/atomic_file.h"
#include "engine/io/checkpoint.h"
#include "engine/io/interrupt.h"
#include "engine/io/output_lock.h"
#include "engine/models/opt_weights.h"
#include "engine/tokenizer/bpe_tokenizer.h"
#include "kernels/common/error.h"
#include "pipeline/experiment/content_hash.h"
#include "pipeline/experiment/experiment_yaml.h"
#include "pipeline/predictors/predictor_set.h"
#include "pipeline/predictors/train_predictors.h"
#include "pipeline/report/stage_record.h"
#include "pipeline/stages/collect_stage.h"
#include "pipeline/stages/eval_stage.h"
#include "pipeline/stages/measure_stage.h"
#include "pipeline/stages/scorer_factory.h"
#include "pipeline/stages/stage_folder.h"
#include "pipeline/tasks/task_stage.h"

namespace dv {
namespace {

namespace fs = std::filesystem;

// The model and tokenizer, loaded on first use and shared by collect and eval.
class LazyModel {
 public:
  explicit LazyModel(const Experiment& e) : e_(e) {}
  OptModel& model() {
    load();
    return *model_;
  }
  BpeTokenizer& tokenizer() {
    load();
    return *tokenizer_;
  }

 private:
  void load() {
    if (model_) return;
    Checkpoint ckpt(e_.model);
    tokenizer_ = std::make_unique<BpeTokenizer>(BpeTokenizer::load(e_.model));
    model_ = std::make_unique<OptModel>(load_opt_weights(ckpt, parse_scalar_type(e_.dtype), parse_device(e_.device)));
  }
  const Experiment& e_;
  std::unique_ptr<OptModel> model_;
  std::unique_ptr<BpeTokenizer> tokenizer_;
};

TrainOptions train_options(const Experiment& e) {
  const TrainSection& t = e.train;
  TrainOptions o;
  o.rank_mlp = t.rank_mlp;
  o.rank_att = t.rank_att;
  o.epochs = t.epochs;
  o.lr_mlp = t.lr_mlp;
  o.lr_att = t.lr_att;
  o.weight_decay = t.weight_decay;
  o.batch_size = t.batch_size;
  o.val_fraction = t.val_fraction;
  o.patience = t.patience;
  o.stop_recall = t.stop_recall;
  o.att_top_fraction = t.att_top_fraction;
  o.mlp_input = parse_predictor_input(t.mlp_input, "train.mlp_input");
  o.att_input = parse_predictor_input(t.att_input, "train.att_input");
  o.layers = t.layers;
  o.device = parse_device(e.device).str();
  o.seed = static_cast<uint64_t>(e.seed);
  return o;
}

// eval.tasks: scored over the same sweep and predictors as the perplexity, into the eval dir (tasks.csv).
TaskRunOptions task_options(const Experiment& e, const EvalRunOptions& eval) {
  TaskRunOptions o;
  for (const EvalTaskSpec& t : e.eval.tasks) o.tasks.push_back({t.name, t.format, t.file});
  o.out = eval.out;
  o.predictors = eval.predictors;
  o.max_docs = e.eval.task_max_docs;
  o.batch = e.eval.task_batch;
  o.seed = static_cast<uint64_t>(e.seed);
  o.sweep = eval.sweep;
  o.engine = eval.engine;  // eval.engine: the tasks are scored by the same engine as the perplexity
  o.model_dir = e.model;
  o.device = e.device;
  o.dtype = e.dtype;
  return o;
}

std::string predictors_file(const RunLayout& layout) { return layout.predictors() + "/" + kPredictorsFileName; }

// The experiment lists the stage and --only (when given) names it.
bool selected(const Experiment& e, const RunOptions& ro, Stage s) {
  return e.runs(s) && (ro.only.empty() || ro.only == stage_name(s));
}

// What a stage reads: the files and directories its hash covers.
std::vector<std::string> stage_inputs(const Experiment& e, Stage s, const RunLayout& layout) {
  const std::string predictors = predictors_file(layout);
  switch (s) {
    case Stage::kCollect: return {e.model, e.collect.text};
    case Stage::kTrain: return {layout.acts()};
    case Stage::kMeasure:
      if (e.runs(Stage::kTrain)) return {layout.acts(), predictors};
      return {layout.acts()};
    case Stage::kEval: {
      std::vector<std::string> in = {e.model, e.eval.text};
      if (e.runs(Stage::kTrain)) in.push_back(predictors);
      for (const EvalTaskSpec& t : e.eval.tasks) in.push_back(t.file);
      return in;
    }
    case Stage::kBench: {
      std::vector<std::string> in;
      if (e.bench.times_model()) in.push_back(e.model);
      if (e.bench.times_model() && e.runs(Stage::kTrain)) in.push_back(predictors);
      if (!e.bench.text.empty()) in.push_back(e.bench.text);
      return in;
    }
  }
  return {};
}

void check_inputs_exist(Stage s, const std::vector<std::string>& inputs) {
  for (const auto& in : inputs)
    DV_CHECK(fs::exists(in), "stage {}: input {} does not exist (run the stage that makes it first)", stage_name(s),
             in);
}

// Why a selected stage cannot run on this machine, or "" (only bench depends on the machine).
std::string unavailable(Stage s, const RunOptions& ro) {
  if (s != Stage::kBench) return "";
  if (!ro.bench.run) return "this dejavu was built without the CUDA engine";
  return ro.bench.unavailable ? ro.bench.unavailable() : "";
}

bool unchanged(const std::string& hash_file, const std::string& hash) {
  return fs::exists(hash_file) && read_small_file(hash_file) == hash;
}

// --dry-run: one line per selected stage. A stage reading what an earlier stage of this run remakes would run
// too (unless that stage happened to write the same bytes again, which the real run then notices).
void print_plan(const Experiment& e, const RunOptions& ro, const RunLayout& layout) {
  std::printf("dry run of %s (output %s): nothing is run or written\n", e.name.c_str(), layout.root.c_str());
  std::vector<std::string> remade;  // outputs of the stages that would run
  for (Stage s : kAllStages) {
    if (!selected(e, ro, s)) continue;
    const std::vector<std::string> inputs = stage_inputs(e, s, layout);
    std::string upstream;
    for (const auto& in : inputs)
      if (std::find(remade.begin(), remade.end(), in) != remade.end()) upstream = in;
    std::string why;
    if (const std::string no = unavailable(s, ro); !no.empty()) {
      std::printf("  %-8s skip  %s\n", stage_name(s), no.c_str());
      continue;
    }
    if (!upstream.empty()) {
      why = fmt::format("reads {}, which an earlier stage remakes", upstream);
      if (fs::exists(partial_folder_path(layout.stage_dir(s))))
        why += fmt::format("; {} is resumed only if it was started with the same inputs, else discarded",
                           partial_folder_path(layout.stage_dir(s)));
    } else {
      check_inputs_exist(s, inputs);
      const std::string hash_file = layout.stage_dir(s) + "/stage.hash";
      const std::string hash = run_stage_hash(e, s, inputs, layout.root);
      if (ro.force) {
        why = "--force";
      } else if (!fs::exists(hash_file)) {
        why = "no finished run in " + layout.stage_dir(s);
      } else if (!unchanged(hash_file, hash)) {
        why = "its config or inputs changed since its last run";
      } else {
        std::printf("  %-8s skip  unchanged since its last run\n", stage_name(s));
        continue;
      }
      PartialFolder state = partial_folder_state(layout.stage_dir(s), hash);
      if (ro.force && state == PartialFolder::kResumable) state = PartialFolder::kStale;  // --force starts afresh
      if (state != PartialFolder::kNone) why += "; " + describe_partial_folder(layout.stage_dir(s), state);
    }
    std::printf("  %-8s run   %s\n", stage_name(s), why.c_str());
    if (s == Stage::kCollect) remade.push_back(layout.acts());
    if (s == Stage::kTrain) remade.push_back(predictors_file(layout));
  }
}

}  // namespace

void run_experiment(const Experiment& e, const RunOptions& ro) {
  DV_CHECK(ro.only.empty() || ro.only == "collect" || ro.only == "train" || ro.only == "measure" || ro.only == "eval" ||
               ro.only == "bench",
           "--only {}: not a stage (collect, train, measure, eval, bench)", ro.only);
  const RunLayout layout{e.output_dir};
  if (ro.dry_run) {
    print_plan(e, ro, layout);
    return;
  }
  const OutputLock run_lock(layout.root);  // one `dejavu run` per output folder
  make_dirs(layout.root);
  write_file_atomic(layout.root + "/experiment.yaml", experiment_to_yaml(e));
  // One interruption policy for every stage: the first SIGINT/SIGTERM stops at the stage's next clean point
  // (collect: its next batch, train: its next batch, measure: its next chunk, eval: its next point) or before
  // the next stage; finished stages and the unfinished stage's resumable work are kept.
  const InterruptGuard interrupt_guard;
  LazyModel lazy(e);
  for (Stage s : kAllStages) {
    if (!selected(e, ro, s)) continue;
    if (const std::string no = unavailable(s, ro); !no.empty()) {
      std::fprintf(stderr, "== %s: skipped: %s\n", stage_name(s), no.c_str());
      continue;
    }
    check_interrupt(fmt::format("run: before stage {}", stage_name(s)));
    const std::string dir = layout.stage_dir(s);
    const std::vector<std::string> inputs = stage_inputs(e, s, layout);
    check_inputs_exist(s, inputs);
    const std::string hash = run_stage_hash(e, s, inputs, layout.root);
    const std::string hash_file = dir + "/stage.hash";
    if (!ro.force && unchanged(hash_file, hash)) {
      std::fprintf(stderr, "== %s: unchanged since its last run, skipped (%s; --force re-runs)\n", stage_name(s),
                   dir.c_str());  // its stage_run.json still tells when and where its results were made
      continue;
    }
    std::fprintf(stderr, "== %s -> %s\n", stage_name(s), dir.c_str());
    const auto stage_start = std::chrono::steady_clock::now();
    const std::string started_utc = utc_now_iso8601();
    const OutputLock stage_lock(dir);  // also keeps a plain stage command off this folder
    // The stage writes into <dir>.partial, which replaces <dir> whole once the stage is done.
    prepare_partial_folder(dir, hash, ro.force);
    const std::string work = partial_folder_path(dir);
    write_file_atomic(work + "/config.yaml", stage_config_yaml(e, s));
    const double cpu_started = process_cpu_seconds();
    switch (s) {
      case Stage::kCollect: {
        CollectOptions o;
        o.text = e.collect.text;
        o.out = work + "/acts.h5";
        o.seq_len = e.collect.seq_len;
        o.sample_every = e.collect.sample_every;
        o.max_tokens = e.collect.max_tokens;
        o.max_rows = e.collect.max_rows;
        o.batch_windows = e.collect.batch_windows;
        o.store_fc1_values = e.collect.store_fc1_values;
        if (!e.collect.fields.empty()) {
          std::string list;
          for (const std::string& f : e.collect.fields) list += (list.empty() ? "" : ",") + f;
          o.field_mask = parse_field_list(list, "collect.fields");
        }
        o.compression = parse_compression(e.collect.compression, "collect.compression");
        o.max_nonfinite = e.collect.max_nonfinite;
        o.force = ro.force;
        const CollectResult r = run_collect(lazy.model(), lazy.tokenizer(), e.model, o);
        if (r.interrupted)
          throw Interrupted(fmt::format("collect: interrupted by {}; {} rows are committed and kept in {}.partial",
                                        signal_name(interrupt_signal()), r.rows, o.out));
        break;
      }
      case Stage::kTrain: {
        TrainContext ctx;
        ctx.stop_requested = [] { return interrupt_requested(); };
        const TrainOptions to = train_options(e);
        const TrainSummary r = train_predictors(layout.acts(), work, to, ctx);
        if (r.interrupted)
          throw Interrupted(fmt::format("train: interrupted by {}; {} of {} layers are finished and kept in {}/{}",
                                        signal_name(interrupt_signal()), r.layers.size(), r.options.layers.size(), work,
                                        kPartialDirName));
        break;
      }
      case Stage::kMeasure: {
        MeasureOptions o;
        o.acts = layout.acts();
        o.predictors = e.runs(Stage::kTrain) ? layout.predictors() : "";
        o.out = work;
        o.norm_shares = e.measure.norm_share;
        o.topk_fractions = e.measure.mlp_topk_fractions;
        o.head_topk_fractions = e.measure.head_keep_fractions;
        o.thresholds = e.measure.mlp_thresholds;
        o.device = parse_device(e.device).str();
        run_measure(o);
        break;
      }
      case Stage::kEval: {
        EvalRunOptions o;
        o.text = e.eval.text;
        o.out = work;
        o.predictors = e.runs(Stage::kTrain) ? layout.predictors() : "";
        o.max_tokens = e.eval.max_tokens;
        o.seq_len = e.eval.seq_len;
        o.sweep.modes = e.eval.modes;
        o.sweep.targets = e.eval.targets;
        o.sweep.mlp_densities = e.eval.mlp_densities;
        o.sweep.head_densities = e.eval.head_densities;
        o.sweep.dense_layers = e.eval.dense_layers;
        o.engine = e.eval.engine;
        check_engine_available(o.engine, "eval.engine");
        o.model_dir = e.model;
        o.device = e.device;
        o.dtype = e.dtype;
        run_eval(lazy.model(), lazy.tokenizer(), o);
        if (!e.eval.tasks.empty()) run_tasks(lazy.model(), lazy.tokenizer(), task_options(e, o));
        break;
      }
      case Stage::kBench:
        ro.bench.run(e, work, e.runs(Stage::kTrain) ? layout.predictors() : "");
        break;
    }
    // A stop that came while measure or eval was plotting (the plot may be missing): they re-run whole. Collect
    // and train are done once they return (a re-run would find their work complete).
    if (s == Stage::kMeasure || s == Stage::kEval) check_interrupt(stage_name(s));
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - stage_start).count();
    write_stage_record(work,
                       make_stage_record(stage_name(s), started_utc, seconds, process_cpu_seconds() - cpu_started));
    commit_partial_folder(dir, hash);
    std::fprintf(stderr, "== %s done in %.1f s\n", stage_name(s), seconds);
  }
}

}  // namespace dv
