// cmd_collect.cpp: `dejavu collect`: dense activations of a corpus into an HDF5 activation store, one
// shard of one (--shard I/N), or a merged view over finished shards (--merge-shards).
#include <cstdio>
#include <memory>

#include "engine/io/interrupt.h"
#include "engine/io/output_lock.h"
#include "kernels/common/error.h"
#include "pipeline/cli/commands.h"
#include "pipeline/cli/model_options.h"
#include "pipeline/cli/option_flags.h"
#include "pipeline/collect/collect_stage.h"
#include "pipeline/store/disk_space.h"
#include "pipeline/store/shard_merge.h"

namespace dv::cli {

namespace {
struct CollectArgs {
  ModelOptions model;
  CollectSection section;  // the collect section's options, as flags named after its keys
  std::string out, shard;
  std::vector<std::string> merge;
  bool force = false;
  int compress_threads = 0;
};

void run_collect_command(CollectArgs& a) {
  if (!a.merge.empty()) {
    merge_shards(a.out, a.merge);
    std::printf("collect: %s reads %zu shard(s) as one store (virtual datasets; keep the shard files beside it)\n",
                a.out.c_str(), a.merge.size());
    return;
  }
  DV_CHECK(!a.section.text.empty(), "collect: --text is required (or --merge-shards SHARD...)");
  CollectOptions collect = collect_options(a.section, a.out, "--");
  collect.force = a.force;
  collect.compress_threads = a.compress_threads;
  if (!a.shard.empty()) collect.shard = parse_shard(a.shard, "--shard");
  const OutputLock lock(collect.out);
  LoadedModel m = load_model(a.model);
  const CollectResult r = run_collect(*m.model, *m.tokenizer, a.model.model_dir, collect);
  if (r.already_complete) {
    std::printf("collect: %s is already complete for these settings (use --force to redo)\n", collect.out.c_str());
    return;
  }
  if (r.interrupted)
    throw Interrupted(fmt::format("collect: interrupted; {} rows committed in {}.partial; run the same command "
                                  "again to resume",
                                  r.rows, collect.out));
  const double s = r.seconds > 0 ? r.seconds : 1e-9;
  std::printf("collect: %lld rows (%lld resumed, %lld dropped for NaN/Inf) in %s (%s on disk); %lld tokens in "
              "%.1f s (%.0f tokens/s, %.0f rows/s, %.1f MB/s of rows)\n",
              static_cast<long long>(r.rows), static_cast<long long>(r.rows_resumed),
              static_cast<long long>(r.nonfinite.dropped), collect.out.c_str(), human_bytes(r.file_bytes).c_str(),
              static_cast<long long>(r.tokens_run), r.seconds, r.tokens_run / s,
              static_cast<double>(r.rows - r.rows_resumed) / s, static_cast<double>(r.bytes_stored) / s / 1e6);
}
}  // namespace

void add_collect_command(CLI::App& app) {
  auto a = std::make_shared<CollectArgs>();
  CLI::App* cmd = app.add_subcommand("collect", "Record dense activations of a corpus into an HDF5 store");
  add_model_options(cmd, a->model);
  cmd->add_option("--out", a->out, "activation store (HDF5), e.g. acts.h5")->required();
  OptionFlags flags(cmd, "collect");
  visit_collect_options(a->section, flags);
  cmd->add_option("--compress-threads", a->compress_threads,
                  "threads compressing the store's chunks (0 = one per core; the file is the same for any count)")
      ->capture_default_str()->check(kNonNegative);
  cmd->add_option("--shard", a->shard, "collect only shard I of N (I/N, 0-based) of the windows into --out");
  cmd->add_option("--merge-shards", a->merge, "write --out as one store over these finished shard files")
      ->expected(1, -1);
  cmd->add_flag("--force", a->force, "discard an existing store or partial file");
  cmd->callback([a] { run_collect_command(*a); });
}

}  // namespace dv::cli
