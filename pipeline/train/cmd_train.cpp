// cmd_train.cpp: `dejavu train --acts ACTS.h5 --out PRED_DIR`: the train section's options as flags named
// after its keys (train_section.h) and the command's own, Ctrl-C as a clean stop (finished layers kept; the same command resumes), and a
// per-layer summary of the validation metrics.
#include "pipeline/train/cmd_train.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>

#include "engine/io/interrupt.h"
#include "engine/io/output_lock.h"
#include "kernels/common/error.h"
#include "pipeline/cli/option_flags.h"
#include "pipeline/train/merge_predictors.h"
#include "pipeline/train/train_predictors.h"

namespace dv::cli {

namespace {

struct TrainArgs {
  std::string acts;
  std::string out;
  bool no_progress = false;
  std::vector<std::string> merge;  // --merge-predictors: join these PRED_DIRs instead of training
  TrainSection recipe;   // the train section's options, as flags named after its keys
  TrainOptions options;  // the command's own (device, threads, metrics, ...)
};

// Recall at the keep-fraction closest to 10% (the density the paper's MLP runs near).
const TopkMetric* topk_near_tenth(const PredictorMetrics& m) {
  const TopkMetric* best = nullptr;
  for (const TopkMetric& t : m.topk) {
    if (best == nullptr || std::abs(t.fraction - 0.1) < std::abs(best->fraction - 0.1)) best = &t;
  }
  return best;
}

void print_summary(const TrainSummary& s, const std::string& out) {
  std::printf("layer  kind  recall@0.5  precision  active  predicted  recall@top  epochs  best\n");
  for (const LayerMetrics& l : s.layers) {
    for (const PredictorMetrics* m : {&l.mlp, &l.att}) {
      const TopkMetric* t = topk_near_tenth(*m);
      std::printf("%5lld  %-4s  %10.4f  %9.4f  %6.3f  %9.3f  %5.3f@%-3.0f%%  %6lld  %4lld\n",
                  static_cast<long long>(m->layer), m->kind.c_str(), m->recall, m->precision, m->true_active_rate,
                  m->pred_active_rate, t ? t->recall : 0.0, t ? 100 * t->fraction : 0.0,
                  static_cast<long long>(m->epochs_run), static_cast<long long>(m->best_epoch));
    }
  }
  // Rows streamed through training: each layer reads its training rows once an epoch (both predictors
  // train on the same batches until the slower one stops). Resumed layers were read by an earlier run.
  double rows = 0;
  if (s.layers_resumed == 0) {
    for (const LayerMetrics& l : s.layers) {
      rows += static_cast<double>(l.mlp.train_rows) * static_cast<double>(std::max(l.mlp.epochs_run, l.att.epochs_run));
    }
  }
  std::printf("wrote %s/{predictors.safetensors,metrics.*,metrics_topk.*}: %lld layers trained, %lld resumed, "
              "%lld worker(s) x %lld thread(s), %.1f s (%.0f training rows/s)\n",
              out.c_str(), static_cast<long long>(s.layers_trained), static_cast<long long>(s.layers_resumed),
              static_cast<long long>(s.workers), static_cast<long long>(s.threads_per_worker), s.seconds,
              s.seconds > 0 ? rows / s.seconds : 0.0);
}

void run_train(TrainArgs a) {
  if (!a.merge.empty()) {
    merge_predictor_dirs(a.out, a.merge);
    std::printf("wrote %s/{predictors.safetensors,metrics.*,metrics_topk.*} from %zu part(s)\n", a.out.c_str(),
                a.merge.size());
    return;
  }
  DV_CHECK(!a.acts.empty(), "train: --acts is required (or --merge-predictors PRED_DIR...)");
  TrainOptions options = train_options(a.recipe, "--");
  options.mlp_negative_offset = a.options.mlp_negative_offset;
  options.att_negative_offset = a.options.att_negative_offset;
  options.topk_fractions = a.options.topk_fractions;
  options.device = a.options.device;
  options.threads = a.options.threads;
  options.parallel_layers = a.options.parallel_layers;
  options.buffer_mb = a.options.buffer_mb;
  options.max_rows = a.options.max_rows;
  options.seed = a.options.seed;
  options.progress = !a.no_progress;
  const OutputLock lock(a.out);
  InterruptGuard guard;  // the first SIGINT/SIGTERM ends training at the next batch, finished layers kept
  TrainContext ctx;
  ctx.stop_requested = [] { return interrupt_requested(); };
  const TrainSummary s = train_predictors(a.acts, a.out, options, ctx);
  if (s.interrupted) {
    throw Interrupted(fmt::format("{}: interrupted by {}; {} of {} layers are finished and kept in {}/{}; run the "
                                  "same command again to resume",
                                  a.out, signal_name(interrupt_signal()), s.layers.size(),
                                  s.options.layers.size(), a.out, kPartialDirName));
  }
  print_summary(s, a.out);
}

}  // namespace

void add_train_command(CLI::App& app) {
  auto a = std::make_shared<TrainArgs>();
  TrainOptions& o = a->options;
  CLI::App* cmd = app.add_subcommand(
      "train", "Train the per-layer low-rank MLP and attention-head predictors on an activation store");
  cmd->add_option("--acts", a->acts, "activation store written by `dejavu collect`");
  cmd->add_option("--merge-predictors", a->merge,
                  "join these predictor directories (trained with --layers on the same store and options) into --out")
      ->expected(1, -1);
  cmd->add_option("--out", a->out, "output directory (predictors.safetensors, metrics and metrics_topk CSV + JSON)")
      ->required();
  cmd->add_option("--device", o.device, "cpu, cuda, cuda:N or auto (cuda when available)")->capture_default_str();
  OptionFlags flags(cmd, "train");
  visit_train_options(a->recipe, flags);
  cmd->add_option("--mlp-neg-offset", o.mlp_negative_offset, "MLP loss: negatives weigh positive rate + this")
      ->capture_default_str();
  cmd->add_option("--att-neg-offset", o.att_negative_offset, "attention loss: negatives weigh positive rate + this")
      ->capture_default_str();
  cmd->add_option("--topk", o.topk_fractions, "comma-separated keep-fractions the metrics report")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("--threads", o.threads, "CPU threads in all (0 = all cores)")->capture_default_str();
  cmd->add_option("--parallel-layers", o.parallel_layers, "layers trained at once on CPU (0 = one per thread)")
      ->capture_default_str();
  cmd->add_option("--buffer-mb", o.buffer_mb, "row-buffer memory per layer being trained, MiB")->capture_default_str();
  cmd->add_option("--max-rows", o.max_rows, "use only the store's first N rows (0 = all)")->capture_default_str();
  cmd->add_option("--seed", o.seed, "seed of initialisation and shuffling")->capture_default_str();
  cmd->add_flag("--no-progress", a->no_progress, "no progress bar");
  cmd->callback([a] { run_train(*a); });
}

}  // namespace dv::cli
