// collect_stage.cpp: windows -> hooked forward -> sampled rows -> ActivationWriter.
#include "pipeline/stages/collect_stage.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <limits>

#include <c10/core/InferenceMode.h>
#include <nlohmann/json.hpp>

#include "engine/io/atomic_file.h"
#include "engine/io/interrupt.h"
#include "engine/io/progress.h"
#include "engine/tokenizer/encode_file.h"
#include "kernels/common/error.h"
#include "pipeline/experiment/content_hash.h"
#include "pipeline/store/activation_writer.h"
#include "pipeline/store/bit_pack.h"

namespace dv {
namespace {

// Host copies of one window batch's sampled rows, laid out as the writer wants them.
struct HostRows {
  int64_t n = 0;
  std::vector<int32_t> token_id, position, window;
  std::vector<at::Tensor> attn_in, mlp_in, fc1_value, head_norm;  // per layer, CPU contiguous
  std::vector<std::vector<uint8_t>> fc1_active;                   // per layer, packed

  RowBatch batch(bool with_values) const {
    RowBatch b;
    b.n = n;
    b.token_id = token_id.data();
    b.position = position.data();
    b.window = window.data();
    for (size_t l = 0; l < attn_in.size(); ++l) {
      LayerRows r;
      r.attn_input = reinterpret_cast<const uint16_t*>(attn_in[l].data_ptr<at::Half>());
      r.mlp_input = reinterpret_cast<const uint16_t*>(mlp_in[l].data_ptr<at::Half>());
      r.fc1_active = fc1_active[l].data();
      r.head_norm = head_norm[l].data_ptr<float>();
      if (with_values) r.fc1_value = reinterpret_cast<const uint16_t*>(fc1_value[l].data_ptr<at::Half>());
      b.layers.push_back(r);
    }
    return b;
  }
};

std::string model_config_text(const OptModel& model, const std::string& model_dir) {
  const auto cfg = std::filesystem::path(model_dir) / "config.json";
  return std::filesystem::exists(cfg) ? read_small_file(cfg.string()) : model.config().to_json();
}

// Rows of a stream of `tokens` tokens cut into windows of `len` sampled every `every` (the last window shorter).
int64_t expected_rows(int64_t tokens, int64_t len, int64_t every) {
  return tokens / len * ((len + every - 1) / every) + (tokens % len + every - 1) / every;
}

// Sampled positions of a window of `len` tokens.
std::vector<int64_t> sampled_positions(int64_t len, int64_t every) {
  std::vector<int64_t> p;
  for (int64_t i = 0; i < len; i += every) p.push_back(i);
  return p;
}

// Runs B windows (equal length) and keeps the sampled rows [skip, skip + take) of the batch's row order.
HostRows run_windows(const OptModel& model, const std::vector<std::vector<int32_t>>& windows, int64_t first_window,
                     int64_t every, int64_t skip, int64_t take, bool with_values) {
  const int64_t B = static_cast<int64_t>(windows.size()), L = static_cast<int64_t>(windows[0].size());
  std::vector<int32_t> flat;
  for (const auto& w : windows) flat.insert(flat.end(), w.begin(), w.end());
  const at::Tensor ids = at::from_blob(flat.data(), {B, L}, at::kInt).to(at::kLong);
  const auto pos = sampled_positions(L, every);
  // Flat indices (b * L + p) of the kept rows, in row order.
  std::vector<int64_t> keep;
  HostRows rows;
  for (int64_t b = 0; b < B; ++b)
    for (size_t i = 0; i < pos.size(); ++i) {
      const int64_t p = pos[i], r = b * static_cast<int64_t>(pos.size()) + static_cast<int64_t>(i);
      if (r < skip || r >= skip + take) continue;
      keep.push_back(b * L + p);
      rows.token_id.push_back(windows[b][p]);
      rows.position.push_back(static_cast<int32_t>(p));
      rows.window.push_back(static_cast<int32_t>(first_window + b));
    }
  rows.n = static_cast<int64_t>(keep.size());
  const at::Tensor index = at::tensor(keep, at::kLong).to(model.device());
  const int64_t ffn = model.config().ffn_dim;
  ForwardHooks hooks;
  hooks.on_layer = [&](const LayerActivations& a) {
    auto pick = [&](const at::Tensor& t) { return t.reshape({B * L, -1}).index_select(0, index); };
    rows.attn_in.push_back(pick(a.attn_input).to(at::kCPU, at::kHalf).contiguous());
    rows.mlp_in.push_back(pick(a.mlp_input).to(at::kCPU, at::kHalf).contiguous());
    const at::Tensor act = pick(a.fc1_act).to(at::kCPU, at::kFloat).contiguous();
    std::vector<uint8_t> packed(rows.n * ((ffn + 7) / 8));
    pack_active(act.data_ptr<float>(), rows.n, ffn, packed.data());
    rows.fc1_active.push_back(std::move(packed));
    if (with_values) rows.fc1_value.push_back(act.to(at::kHalf).contiguous());
    rows.head_norm.push_back(
        at::linalg_vector_norm(pick(a.head_out.to(at::kFloat).flatten(2)).view({rows.n, a.head_out.size(2), -1}), 2, {-1})
            .to(at::kCPU)
            .contiguous());
  };
  model.forward(ids, nullptr, &hooks);
  return rows;
}

}  // namespace

CollectResult run_collect(const OptModel& model, BpeTokenizer& tokenizer, const std::string& model_dir,
                          const CollectOptions& o) {
  c10::InferenceMode inference_mode;
  const OptConfig& c = model.config();
  const int64_t L = o.seq_len > 0 ? o.seq_len : std::min<int64_t>(c.max_position_embeddings, 2048);
  DV_CHECK(L >= 1 && L <= c.max_position_embeddings, "collect: --seq-len {} must be in [1, {}]", L,
           c.max_position_embeddings);
  DV_CHECK(o.sample_every >= 1, "collect: --sample-every must be >= 1, got {}", o.sample_every);
  DV_CHECK(o.batch_windows >= 1, "collect: --batch-windows must be >= 1, got {}", o.batch_windows);

  StoreMeta meta;
  meta.shape = {c.num_hidden_layers, c.hidden_size, c.ffn_dim, c.num_attention_heads, c.head_dim(), o.store_fc1_values};
  meta.model_config = model_config_text(model, model_dir);
  meta.model_dir = model_dir;
  meta.corpus = o.text;
  // As store_layout.h documents: content for a text file up to 16 MiB, else size and Unix mtime in ns (the
  // std::filesystem clock's epoch is not Unix time: its counts were negative).
  meta.corpus_identity = file_identity(o.text);
  meta.sample_settings = nlohmann::json{{"seq_len", L},
                                        {"sample_every", o.sample_every},
                                        {"max_tokens", o.max_tokens},
                                        {"max_rows", o.max_rows},
                                        {"store_fc1_values", o.store_fc1_values},
                                        {"bos", "</s> first in the stream"}}
                             .dump();
  meta.created_by = "dejavu 0.1.0 collect";
  const int64_t rows_per_window = (L + o.sample_every - 1) / o.sample_every;
  WriterOptions wopts;
  wopts.force = o.force;
  const auto file_bytes = static_cast<int64_t>(std::filesystem::file_size(o.text));
  // ~4 bytes of English text per BPE token; the free-space check only needs an upper-ish estimate.
  int64_t tokens_est = o.max_tokens > 0 ? o.max_tokens : file_bytes / 3 + 1;
  wopts.expected_rows = o.max_rows > 0 ? std::min(o.max_rows, tokens_est / o.sample_every + rows_per_window)
                                       : tokens_est / o.sample_every + rows_per_window;
  ActivationWriter writer(o.out, meta, wopts);
  CollectResult result;
  if (writer.start() == WriterStart::kAlreadyComplete) {
    result.already_complete = true;
    return result;
  }
  result.rows_resumed = writer.rows_committed();
  const int64_t row_limit = o.max_rows > 0 ? o.max_rows : std::numeric_limits<int64_t>::max();
  int64_t rows_done = result.rows_resumed;  // rows of the store so far, in row order
  int64_t rows_seen = 0;                    // rows of the windows passed so far (run or skipped)
  int64_t window_index = 0;

  InterruptGuard guard;
  Progress bar("collect", std::min(row_limit, expected_rows(o.max_tokens > 0 ? o.max_tokens : tokens_est, L, o.sample_every)),
               "rows", o.show_progress);
  bar.resume_from(rows_done);
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::vector<int32_t>> pending;  // full windows waiting for a batch
  std::vector<int32_t> current;
  int64_t tokens_read = 0;
  const int64_t token_limit = o.max_tokens > 0 ? o.max_tokens : std::numeric_limits<int64_t>::max();
  auto last_commit = t0;

  auto flush = [&](std::vector<std::vector<int32_t>>& windows) {
    if (windows.empty()) return;
    const int64_t win_rows = static_cast<int64_t>(sampled_positions(windows[0].size(), o.sample_every).size());
    const int64_t batch_rows = win_rows * static_cast<int64_t>(windows.size());
    const int64_t skip = std::max<int64_t>(0, rows_done - rows_seen);
    const int64_t take = std::min(batch_rows - skip, row_limit - rows_done);
    if (take > 0) {
      HostRows rows = run_windows(model, windows, window_index, o.sample_every, skip, take, o.store_fc1_values);
      writer.append_batch(rows.batch(o.store_fc1_values));
      rows_done += rows.n;
      for (const auto& w : windows) result.tokens_run += static_cast<int64_t>(w.size());
      bar.update(rows_done);
      const auto now = std::chrono::steady_clock::now();
      if (std::chrono::duration<double>(now - last_commit).count() > 5.0) {
        writer.commit();
        last_commit = now;
      }
    }
    rows_seen += batch_rows;
    window_index += static_cast<int64_t>(windows.size());
    windows.clear();
  };

  encode_text_file(
      tokenizer, o.text, /*add_bos=*/true,
      [&](const std::vector<int32_t>& ids) {
        for (int32_t id : ids) {
          if (tokens_read++ >= token_limit) return false;
          current.push_back(id);
          if (static_cast<int64_t>(current.size()) == L) {
            pending.push_back(std::move(current));
            current.clear();
            if (static_cast<int64_t>(pending.size()) == o.batch_windows) flush(pending);
          }
          if (rows_done >= row_limit || interrupt_requested()) return false;
        }
        return true;
      },
      std::size_t{1} << 20);
  if (!interrupt_requested() && rows_done < row_limit) {
    flush(pending);
    if (current.size() >= 1) {
      std::vector<std::vector<int32_t>> last = {current};
      flush(last);
    }
  }
  if (interrupt_requested()) {
    bar.finish();
  } else {
    bar.complete();
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (interrupt_requested()) {
    result.rows = writer.commit();
    result.interrupted = true;
    return result;
  }
  writer.finish();
  result.rows = rows_done;
  return result;
}

}  // namespace dv
