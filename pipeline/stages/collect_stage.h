// collect_stage.h: `dejavu collect`: runs the dense model over a corpus and records, per layer, for a
// deterministic sample of tokens, what the predictors learn from and are judged against: the
// attention- and MLP-block inputs, the fc1 activity bits (optionally values) and each head's output
// norm, into the HDF5 activation store (pipeline/store/README.md).
//
// The corpus is tokenized as a stream (never loaded whole), cut into consecutive windows of seq_len
// tokens (</s> first, as the perplexity protocol), and every sample_every-th position of each window
// is kept. Row order is a pure function of the options, so a killed run resumes exactly: windows
// whose rows are already committed are skipped without running the model. The device gathers and
// packs each batch (collect_batch.h) while a writer thread stores the previous one (collect_sink.h).
// Rows holding NaN/Inf are dropped and counted per layer; more than max_nonfinite of them is an error.
// A shard (I/N) collects only its contiguous share of the windows into its own store (shard_merge.h).
#pragma once

#include <cstdint>
#include <string>

#include "engine/models/opt_model.h"
#include "engine/tokenizer/bpe_tokenizer.h"
#include "pipeline/stages/collect_sink.h"
#include "pipeline/store/shard_merge.h"
#include "pipeline/store/store_layout.h"

namespace dv {

struct CollectOptions {
  std::string text;               // UTF-8 corpus
  std::string out;                // ACTS.h5
  int64_t seq_len = 0;            // window length; 0 = min(max_position_embeddings, 2048)
  int64_t sample_every = 1;       // keep positions p with p % sample_every == 0
  int64_t max_tokens = 0;         // corpus tokens read (0 = the whole file)
  int64_t max_rows = 0;           // sampled rows (0 = no limit); not with shards
  int64_t batch_windows = 1;      // full windows run through the model together
  bool store_fc1_values = false;  // also store post-ReLU fc1 values (ffn float16 per row and layer)
  uint32_t field_mask = kDefaultFieldMask;  // layer fields stored (parse_field_list: "attn_input,fc1_active")
  StoreCompression compression = StoreCompression::kShuffleGzip1;  // kNone: raw chunks (fastest writes)
  int compress_threads = 0;       // threads compressing the store's chunks; 0 = one per core (same bytes)
  ShardSpec shard;                // this process's share of the windows; 1 shard = all of them
  double max_nonfinite = 0.001;   // largest share of sampled rows that may be dropped for NaN/Inf
  bool force = false;             // discard an existing store or partial file
  bool show_progress = true;
};

struct CollectResult {
  int64_t rows = 0;            // rows in the finished store
  int64_t rows_resumed = 0;    // rows found committed at start
  int64_t tokens_run = 0;      // tokens run through the model by this invocation
  int64_t bytes_stored = 0;    // uncompressed bytes of the rows this invocation stored
  int64_t file_bytes = 0;      // the store's size on disk at the end
  NonfiniteCounts nonfinite;   // rows dropped for NaN/Inf, in the whole collection
  double seconds = 0;
  bool already_complete = false;
  bool interrupted = false;    // stopped by SIGINT/SIGTERM; the partial file holds the committed rows
};

// "gzip" | "none" -> the store's filters; dv::Error naming `where` otherwise.
StoreCompression parse_compression(const std::string& name, const std::string& where);

CollectResult run_collect(const OptModel& model, BpeTokenizer& tokenizer, const std::string& model_dir,
                          const CollectOptions& options);

}  // namespace dv
