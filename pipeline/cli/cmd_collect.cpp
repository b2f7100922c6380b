// cmd_collect.cpp: `dejavu collect`: dense activations of a corpus into an HDF5 activation store.
#include <cstdio>
#include <memory>

#include "engine/io/interrupt.h"
#include "engine/io/output_lock.h"
#include "pipeline/cli/commands.h"
#include "pipeline/cli/model_options.h"
#include "pipeline/stages/collect_stage.h"

namespace dv::cli {

namespace {
struct CollectArgs {
  ModelOptions model;
  CollectOptions collect;
};

void run_collect_command(const CollectArgs& a) {
  const OutputLock lock(a.collect.out);
  LoadedModel m = load_model(a.model);
  const CollectResult r = run_collect(*m.model, *m.tokenizer, a.model.model_dir, a.collect);
  if (r.already_complete) {
    std::printf("collect: %s is already complete for these settings (use --force to redo)\n", a.collect.out.c_str());
    return;
  }
  if (r.interrupted)
    throw Interrupted(fmt::format("collect: interrupted; {} rows committed in {}.partial; run the same command "
                                  "again to resume",
                                  r.rows, a.collect.out));
  std::printf("collect: %lld rows (%lld resumed) in %s; %lld tokens in %.1f s (%.0f tokens/s)\n",
              static_cast<long long>(r.rows), static_cast<long long>(r.rows_resumed), a.collect.out.c_str(),
              static_cast<long long>(r.tokens_run), r.seconds, r.seconds > 0 ? r.tokens_run / r.seconds : 0.0);
}
}  // namespace

void add_collect_command(CLI::App& app) {
  auto a = std::make_shared<CollectArgs>();
  CLI::App* cmd = app.add_subcommand("collect", "Record dense activations of a corpus into an HDF5 store");
  add_model_options(cmd, a->model);
  CollectOptions& o = a->collect;
  cmd->add_option("--text", o.text, "UTF-8 corpus")->required();
  cmd->add_option("--out", o.out, "activation store (HDF5), e.g. acts.h5")->required();
  cmd->add_option("--seq-len", o.seq_len, "window length (0 = max_position_embeddings, capped at 2048)")
      ->capture_default_str()->check(kNonNegative);
  cmd->add_option("--sample-every", o.sample_every, "keep every k-th position of each window")->capture_default_str()->check(kPositive);
  cmd->add_option("--max-tokens", o.max_tokens, "corpus tokens to read (0 = all)")->capture_default_str()->check(kNonNegative);
  cmd->add_option("--max-rows", o.max_rows, "rows to record (0 = no limit)")->capture_default_str()->check(kNonNegative);
  cmd->add_option("--batch-windows", o.batch_windows, "windows run together")->capture_default_str();
  cmd->add_flag("--store-fc1-values", o.store_fc1_values, "also store post-ReLU fc1 values (float16)");
  cmd->add_flag("--force", o.force, "discard an existing store or partial file");
  cmd->callback([a] { run_collect_command(*a); });
}

}  // namespace dv::cli
