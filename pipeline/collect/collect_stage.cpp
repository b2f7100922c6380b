// collect_stage.cpp: token count and plan, windows -> batches on the device -> the writer thread -> the store.
#include "pipeline/collect/collect_stage.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <limits>

#include <c10/core/InferenceMode.h>
#include <c10/util/Exception.h>
#include <nlohmann/json.hpp>

#include "engine/io/atomic_file.h"
#include "engine/io/interrupt.h"
#include "engine/io/progress.h"
#include "engine/io/warning_log.h"
#include "engine/tokenizer/encode_file.h"
#include "engine/tokenizer/text_file.h"
#include "kernels/common/error.h"
#include "pipeline/experiment/content_hash.h"
#include "pipeline/collect/collect_batch.h"
#include "pipeline/store/activation_reader.h"
#include "pipeline/store/activation_writer.h"
#include "pipeline/store/activity_check.h"
#include "pipeline/store/disk_space.h"

namespace dv {

CollectOptions collect_options(const CollectSection& section, const std::string& out, const std::string& where) {
  CollectOptions o;
  o.text = section.text;
  o.out = out;
  o.seq_len = section.seq_len;
  o.sample_every = section.sample_every;
  o.max_tokens = section.max_tokens;
  o.max_rows = section.max_rows;
  o.batch_windows = section.batch_windows;
  o.store_fc1_values = section.store_fc1_values;
  if (!section.fields.empty()) {
    std::string list;
    for (const std::string& f : section.fields) list += (list.empty() ? "" : ",") + f;
    o.field_mask = parse_field_list(list, where + "fields");
  }
  o.compression = parse_compression(section.compression, where + "compression");
  o.max_nonfinite = section.max_nonfinite;
  return o;
}
namespace {


std::string model_config_text(const OptModel& model, const std::string& model_dir) {
  const auto cfg = std::filesystem::path(model_dir) / "config.json";
  return std::filesystem::exists(cfg) ? read_small_file(cfg.string()) : model.config().to_json();
}

// The windows this process collects and their sampled rows, known before the model runs.
struct CollectPlan {
  int64_t tokens = 0;                        // corpus tokens used (all shards)
  int64_t windows = 0;                       // windows of the whole collection
  int64_t first = 0, end = 0;                // this shard's windows [first, end)
  int64_t rows = 0;                          // sampled rows of [first, end), max_rows applied
};

CollectPlan plan_collection(BpeTokenizer& tokenizer, const CollectOptions& o, int64_t L) {
  CollectPlan p;
  const int64_t limit = o.max_tokens > 0 ? o.max_tokens : std::numeric_limits<int64_t>::max();
  encode_text_file(tokenizer, o.text, /*add_bos=*/true, [&](const std::vector<int32_t>& ids) {
    p.tokens = std::min(limit, p.tokens + static_cast<int64_t>(ids.size()));
    return p.tokens < limit;
  });
  p.windows = (p.tokens + L - 1) / L;
  std::tie(p.first, p.end) = shard_windows(p.windows, o.shard);
  for (int64_t w = p.first; w < p.end; ++w) {
    const int64_t len = std::min(L, p.tokens - w * L);
    p.rows += (len + o.sample_every - 1) / o.sample_every;
  }
  if (o.max_rows > 0) p.rows = std::min(p.rows, o.max_rows);
  return p;
}

// The finished store's fc1 activity, checked for weights that were never trained (activity_check.h).
void check_store_activity(const std::string& acts, const std::string& model_dir) {
  const ActivationReader store(acts);
  if (const std::string w = untrained_weights_warning(fc1_active_fractions(store), "collect of " + model_dir);
      !w.empty())
    warn(w, kRandomWeightsWarning);
}

// The first line of torch's out-of-memory message: it names the bytes asked and the bytes free.
std::string first_line(const char* what) {
  std::string s = what;
  return s.substr(0, s.find('\n'));
}

}  // namespace

StoreCompression parse_compression(const std::string& name, const std::string& where) {
  if (name == "gzip") return StoreCompression::kShuffleGzip1;
  if (name == "none") return StoreCompression::kNone;
  DV_FAIL("{}: compression must be gzip or none, got '{}'", where, name);
}

CollectResult run_collect(const OptModel& model, BpeTokenizer& tokenizer, const std::string& model_dir,
                          const CollectOptions& o) {
  c10::InferenceMode inference_mode;
  const OptConfig& c = model.config();
  const int64_t L = o.seq_len > 0 ? o.seq_len : std::min<int64_t>(c.max_position_embeddings, 2048);
  DV_CHECK(L >= 1 && L <= c.max_position_embeddings, "collect: --seq-len {} must be in [1, {}]", L,
           c.max_position_embeddings);
  DV_CHECK(o.sample_every >= 1, "collect: --sample-every must be >= 1, got {}", o.sample_every);
  DV_CHECK(o.batch_windows >= 1, "collect: --batch-windows must be >= 1, got {}", o.batch_windows);
  DV_CHECK(o.shard.count == 1 || o.max_rows == 0,
           "collect: --max-rows cannot be combined with --shard (limit the corpus with --max-tokens instead)");
  DV_CHECK(o.max_nonfinite >= 0 && o.max_nonfinite <= 1, "collect: --max-nonfinite must be in [0, 1], got {}",
           o.max_nonfinite);

  StoreMeta meta;
  meta.shape = {c.num_hidden_layers, c.hidden_size, c.ffn_dim, c.num_attention_heads, c.head_dim(), o.store_fc1_values};
  meta.shape.field_mask = o.field_mask;
  meta.model_config = model_config_text(model, model_dir);
  meta.model_dir = model_dir;
  meta.corpus = o.text;
  meta.corpus_identity = file_identity(o.text);
  nlohmann::json settings = {{"seq_len", L},
                             {"sample_every", o.sample_every},
                             {"max_tokens", o.max_tokens},
                             {"max_rows", o.max_rows},
                             {"store_fc1_values", o.store_fc1_values},
                             {"bos", "</s> first in the stream"}};
  if (o.shard.count > 1) settings["shard"] = fmt::format("{}/{}", o.shard.index, o.shard.count);
  meta.sample_settings = settings.dump();
  meta.created_by = "dejavu 0.1.0 collect";

  check_text_file(o.text, "collect text");
  const CollectPlan plan = plan_collection(tokenizer, o, L);
  const int64_t row_bytes = meta.shape.bytes_per_row();
  std::fprintf(stderr, "collect: %lld tokens, windows [%lld, %lld) of %lld x %lld tokens, %lld rows x %s = %s "
               "(uncompressed) into %s; %s free there\n",
               static_cast<long long>(plan.tokens), static_cast<long long>(plan.first),
               static_cast<long long>(plan.end), static_cast<long long>(plan.windows), static_cast<long long>(L),
               static_cast<long long>(plan.rows), human_bytes(row_bytes).c_str(),
               human_bytes(plan.rows * row_bytes).c_str(), o.out.c_str(), human_bytes(free_disk_bytes(o.out)).c_str());
  WriterOptions wopts;
  wopts.force = o.force;
  wopts.expected_rows = plan.rows;
  wopts.compression = o.compression;
  wopts.compress_threads = o.compress_threads;
  ActivationWriter writer(o.out, meta, wopts);
  CollectResult result;
  if (writer.start() == WriterStart::kAlreadyComplete) {
    result.already_complete = true;
    return result;
  }
  result.rows_resumed = writer.rows_committed();
  const NonfiniteCounts resumed = NonfiniteCounts::from_json(writer.resumed_note(), c.num_hidden_layers, writer.partial_path());
  // Sampled rows already dealt with: those stored and those dropped before the last stored one.
  int64_t sampled_done = result.rows_resumed + resumed.dropped;
  int64_t rows_seen = 0;  // sampled rows of this shard's windows passed so far (run or skipped)
  int64_t window_index = 0;

  CollectSink sink(writer, c.num_hidden_layers, resumed, o.max_nonfinite);
  writer.set_commit_note([&sink](int64_t rows) { return sink.commit_note(rows); });
  InterruptGuard guard;
  Progress bar("collect", plan.rows, "rows", o.show_progress);
  bar.resume_from(sampled_done);
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::vector<int32_t>> pending;  // full windows waiting for a batch
  std::vector<int32_t> current;
  int64_t tokens_read = 0;

  auto flush = [&](std::vector<std::vector<int32_t>>& windows) {
    if (windows.empty()) return;
    const int64_t len = static_cast<int64_t>(windows[0].size());
    const int64_t batch_rows = (len + o.sample_every - 1) / o.sample_every * static_cast<int64_t>(windows.size());
    const int64_t skip = std::max<int64_t>(0, sampled_done - rows_seen);
    const int64_t take = std::min(batch_rows - skip, plan.rows - sampled_done);
    if (take > 0) {
      HostBatch batch;
      try {
        batch = run_collect_batch(model, windows, window_index - static_cast<int64_t>(windows.size()), o.sample_every,
                                  skip, take, meta.shape);
      } catch (const c10::OutOfMemoryError& e) {
        DV_FAIL("collect: CUDA out of memory running {} window(s) x {} tokens ({} rows kept) of {}: {}; lower "
                "--batch-windows (YAML collect.batch_windows) or --seq-len", windows.size(), len, take,
                model_dir, first_line(e.what()));
      }
      result.bytes_stored += batch.n * row_bytes;
      sink.push(std::move(batch));
      sampled_done += take;
      result.tokens_run += len * static_cast<int64_t>(windows.size());
      bar.update(sampled_done);
    }
    rows_seen += batch_rows;
    windows.clear();
  };
  // A finished window: skipped before this shard's share, batched inside it.
  auto window_done = [&](std::vector<int32_t>&& w) {
    const int64_t index = window_index++;
    if (index < plan.first || index >= plan.end) return;
    pending.push_back(std::move(w));
    if (static_cast<int64_t>(pending.size()) == o.batch_windows) flush(pending);
  };

  encode_text_file(
      tokenizer, o.text, /*add_bos=*/true,
      [&](const std::vector<int32_t>& ids) {
        for (int32_t id : ids) {
          if (tokens_read++ >= plan.tokens) return false;
          current.push_back(id);
          if (static_cast<int64_t>(current.size()) == L) {
            window_done(std::move(current));
            current.clear();
          }
          if (sampled_done >= plan.rows || window_index >= plan.end || interrupt_requested()) return false;
        }
        return true;
      },
      std::size_t{1} << 20);
  if (!interrupt_requested() && sampled_done < plan.rows) {
    flush(pending);  // full windows short of a batch: their length differs from the last window's
    if (!current.empty()) window_done(std::move(current));
    flush(pending);
  }
  if (interrupt_requested()) {
    bar.finish();
  } else {
    bar.complete();
  }
  result.nonfinite = sink.close();
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (interrupt_requested()) {
    result.rows = writer.commit();
    result.interrupted = true;
    return result;
  }
  const NonfiniteCounts& bad = result.nonfinite;
  const int64_t stored = writer.rows_appended();
  if (bad.dropped > 0) {
    const double share = static_cast<double>(bad.dropped) / static_cast<double>(stored + bad.dropped);
    warn(fmt::format("collect: {} of {} sampled rows ({:.3f}%) held NaN/Inf activations and were dropped (rows per "
                     "layer: {})", bad.dropped, stored + bad.dropped, 100 * share, bad.describe()));
    if (share > o.max_nonfinite) {
      writer.commit();
      DV_FAIL("collect: {:.3f}% of the sampled rows hold NaN/Inf activations, more than --max-nonfinite {:g} "
              "(YAML collect.max_nonfinite); fp16 overflow? collect with --dtype bfloat16 or float32; the "
              "partial store {} is kept", 100 * share, o.max_nonfinite, writer.partial_path());
    }
  }
  writer.finish();
  result.rows = stored;
  check_store_activity(o.out, model_dir);
  std::error_code ec;
  result.file_bytes = static_cast<int64_t>(std::filesystem::file_size(o.out, ec));
  return result;
}

}  // namespace dv
