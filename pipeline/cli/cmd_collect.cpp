// cmd_collect.cpp: `dejavu collect`: dense activations of a corpus into an HDF5 activation store, one
// shard of one (--shard I/N), or a merged view over finished shards (--merge-shards).
#include <cstdio>
#include <memory>

#include "engine/io/interrupt.h"
#include "engine/io/output_lock.h"
#include "kernels/common/error.h"
#include "pipeline/cli/commands.h"
#include "pipeline/cli/model_options.h"
#include "pipeline/stages/collect_stage.h"
#include "pipeline/store/disk_space.h"
#include "pipeline/store/shard_merge.h"

namespace dv::cli {

namespace {
struct CollectArgs {
  ModelOptions model;
  CollectOptions collect;
  std::string fields;
  std::string compression = "gzip";
  std::string shard;
  std::vector<std::string> merge;
};

void run_collect_command(CollectArgs& a) {
  if (!a.merge.empty()) {
    merge_shards(a.collect.out, a.merge);
    std::printf("collect: %s reads %zu shard(s) as one store (virtual datasets; keep the shard files beside it)\n",
                a.collect.out.c_str(), a.merge.size());
    return;
  }
  DV_CHECK(!a.collect.text.empty(), "collect: --text is required (or --merge-shards SHARD...)");
  if (!a.fields.empty()) a.collect.field_mask = parse_field_list(a.fields, "--fields");
  a.collect.compression = parse_compression(a.compression, "--compression");
  if (!a.shard.empty()) a.collect.shard = parse_shard(a.shard, "--shard");
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
  const double s = r.seconds > 0 ? r.seconds : 1e-9;
  std::printf("collect: %lld rows (%lld resumed, %lld dropped for NaN/Inf) in %s (%s on disk); %lld tokens in "
              "%.1f s (%.0f tokens/s, %.0f rows/s, %.1f MB/s of rows)\n",
              static_cast<long long>(r.rows), static_cast<long long>(r.rows_resumed),
              static_cast<long long>(r.nonfinite.dropped), a.collect.out.c_str(), human_bytes(r.file_bytes).c_str(),
              static_cast<long long>(r.tokens_run), r.seconds, r.tokens_run / s,
              static_cast<double>(r.rows - r.rows_resumed) / s, static_cast<double>(r.bytes_stored) / s / 1e6);
}
}  // namespace

void add_collect_command(CLI::App& app) {
  auto a = std::make_shared<CollectArgs>();
  CLI::App* cmd = app.add_subcommand("collect", "Record dense activations of a corpus into an HDF5 store");
  add_model_options(cmd, a->model);
  CollectOptions& o = a->collect;
  cmd->add_option("--text", o.text, "UTF-8 corpus");
  cmd->add_option("--out", o.out, "activation store (HDF5), e.g. acts.h5")->required();
  cmd->add_option("--seq-len", o.seq_len, "window length (0 = max_position_embeddings, capped at 2048)")
      ->capture_default_str()->check(kNonNegative);
  cmd->add_option("--sample-every", o.sample_every, "keep every k-th position of each window")->capture_default_str()->check(kPositive);
  cmd->add_option("--max-tokens", o.max_tokens, "corpus tokens to read (0 = all)")->capture_default_str()->check(kNonNegative);
  cmd->add_option("--max-rows", o.max_rows, "rows to record (0 = no limit)")->capture_default_str()->check(kNonNegative);
  cmd->add_option("--batch-windows", o.batch_windows, "windows run together")->capture_default_str();
  cmd->add_flag("--store-fc1-values", o.store_fc1_values, "also store post-ReLU fc1 values (float16)");
  cmd->add_option("--fields", a->fields,
                  "layer fields to store, comma-separated (default: attn_input,mlp_input,fc1_active,head_norm)");
  cmd->add_option("--compression", a->compression, "store filters: gzip (shuffle + deflate 1) or none (fastest)")
      ->capture_default_str();
  cmd->add_option("--compress-threads", o.compress_threads,
                  "threads compressing the store's chunks (0 = one per core; the file is the same for any count)")
      ->capture_default_str()->check(kNonNegative);
  cmd->add_option("--shard", a->shard, "collect only shard I of N (I/N, 0-based) of the windows into --out");
  cmd->add_option("--merge-shards", a->merge, "write --out as one store over these finished shard files")
      ->expected(1, -1);
  cmd->add_option("--max-nonfinite", o.max_nonfinite, "largest share of rows that may hold NaN/Inf (dropped)")
      ->capture_default_str();
  cmd->add_flag("--force", o.force, "discard an existing store or partial file");
  cmd->callback([a] { run_collect_command(*a); });
}

}  // namespace dv::cli
