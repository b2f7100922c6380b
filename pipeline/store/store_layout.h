// store_layout.h: the activation store's layout (format version 1), shared by the writer, the
// reader and the tests. README.md in this folder documents the same layout for Python users;
// change both together and bump kStoreFormatVersion when a reader of the old layout would
// misread the new one.
#pragma once

#include <array>
#include <cstdint>
#include <string>

namespace dv {

constexpr int64_t kStoreFormatVersion = 1;

// The per-row arrays each /layer_XXX group holds.
enum class LayerField {
  kAttnInput,  // float16 [N, d]: attention-block input before its LayerNorm (the residual stream)
  kMlpInput,   // float16 [N, d]: MLP-block input before its LayerNorm
  kFc1Active,  // uint8 [N, ceil(ffn/8)]: bit j%8 of byte j/8 set iff fc1 neuron j's ReLU output > 0
  kHeadNorm,   // float32 [N, H]: L2 norm of each head's attention output, before out_proj
  kFc1Value,   // float16 [N, ffn]: post-ReLU fc1 values (only when the store was asked for them)
};
constexpr std::array<LayerField, 5> kAllLayerFields = {LayerField::kAttnInput, LayerField::kMlpInput,
                                                      LayerField::kFc1Active, LayerField::kHeadNorm,
                                                      LayerField::kFc1Value};

// Element type of a stored array, as the reader/writer hand it to callers.
enum class StoreDtype { kFloat16, kFloat32, kUint8, kInt32 };
int64_t store_dtype_bytes(StoreDtype t);
const char* store_dtype_name(StoreDtype t);  // numpy's name: "float16", "uint8", ...

// "attn_input", "mlp_input", "fc1_active", "head_norm", "fc1_value".
const char* layer_field_name(LayerField f);
StoreDtype layer_field_dtype(LayerField f);
// "/layer_003": three digits, zero-padded (OPT-175B has 96 layers).
std::string layer_group_path(int64_t layer);
// "/layer_003/attn_input".
std::string layer_dataset_path(int64_t layer, LayerField f);

// Names under /tokens (int32 [N] each): token id, position inside its window, window index.
constexpr const char* kTokensGroup = "/tokens";
constexpr const char* kTokenIdPath = "/tokens/token_id";
constexpr const char* kPositionPath = "/tokens/position";
constexpr const char* kWindowPath = "/tokens/window";

// Filters on every dataset (README.md, "Compression", has the measurements behind the default).
enum class StoreCompression {
  kNone,          // raw chunks
  kGzip1,         // deflate level 1
  kShuffleGzip1,  // byte shuffle (dense multi-byte fields; not fc1_value), then deflate level 1
};

// Bit of a field in StoreShape::field_mask.
constexpr uint32_t layer_field_bit(LayerField f) { return 1u << static_cast<unsigned>(f); }
// What a store holds unless asked otherwise (fc1_value is governed by has_fc1_value).
constexpr uint32_t kDefaultFieldMask = layer_field_bit(LayerField::kAttnInput) | layer_field_bit(LayerField::kMlpInput) |
                                       layer_field_bit(LayerField::kFc1Active) | layer_field_bit(LayerField::kHeadNorm);
// "attn_input,fc1_active" -> mask (fc1_value is not accepted here: it has its own switch). dv::Error
// naming `where` for an unknown or repeated name, or an empty list.
uint32_t parse_field_list(const std::string& list, const std::string& where);
// The fields a shape holds, comma-separated, fc1_value included when present (the `fields` attribute).
std::string field_list(uint32_t mask, bool has_fc1_value);

// Model dimensions the layer arrays follow.
struct StoreShape {
  int64_t n_layers = 0;         // decoder layers, one /layer_XXX group each
  int64_t hidden_size = 0;      // d
  int64_t ffn_dim = 0;          // fc1 width (4d in OPT)
  int64_t num_heads = 0;        // H
  int64_t head_dim = 0;         // d / H
  bool has_fc1_value = false;   // /layer_XXX/fc1_value present
  uint32_t field_mask = kDefaultFieldMask;  // which of the other layer fields are stored (collect --fields)

  int64_t fc1_packed_bytes() const { return (ffn_dim + 7) / 8; }
  bool has_field(LayerField f) const {
    return f == LayerField::kFc1Value ? has_fc1_value : (field_mask & layer_field_bit(f)) != 0;
  }
  int64_t cols(LayerField f) const;                // second dimension of the dataset
  int64_t row_bytes(LayerField f) const;           // one row, uncompressed
  int64_t bytes_per_row() const;                   // all datasets of all layers plus /tokens, uncompressed
  // dv::Error naming `where` when a dimension is non-positive or d != H * head_dim.
  void validate(const std::string& where) const;
};

// Everything that identifies a collection. A partial file is resumed only when every field but
// model_dir and created_by matches; a changed corpus or sampling would mix two collections.
struct StoreMeta {
  StoreShape shape;
  std::string model_config;     // the model's config.json, as JSON text
  std::string model_dir;        // where the checkpoint was read from (informational)
  std::string corpus;           // the text file's path, as given
  std::string corpus_identity;  // "sha256:<hex>" or "size=<bytes>;mtime_ns=<t>" (dv::file_identity)
  std::string sample_settings;  // JSON of the sampling options (seq_len, sample_every, max_rows, ...)
  std::string created_by;       // tool and version that wrote the file
};

// Root attribute names (README.md lists their types).
namespace store_attr {
constexpr const char* kFormatVersion = "format_version";
constexpr const char* kModelConfig = "model_config";
constexpr const char* kModelDir = "model_dir";
constexpr const char* kCorpus = "corpus";
constexpr const char* kCorpusIdentity = "corpus_identity";
constexpr const char* kDtype = "dtype";
constexpr const char* kNLayers = "n_layers";
constexpr const char* kHiddenSize = "hidden_size";
constexpr const char* kFfnDim = "ffn_dim";
constexpr const char* kNumHeads = "num_heads";
constexpr const char* kHeadDim = "head_dim";
constexpr const char* kHasFc1Value = "has_fc1_value";
constexpr const char* kSampleSettings = "sample_settings";
constexpr const char* kRowsCommitted = "rows_committed";
constexpr const char* kComplete = "complete";
constexpr const char* kCreatedBy = "created_by";
constexpr const char* kFields = "fields";            // layer fields stored; absent in older stores: the default four
constexpr const char* kCollectStats = "collect_stats";  // JSON: rows dropped for non-finite values, per layer
constexpr const char* kShards = "shards";            // merged stores: JSON list of the shard files (relative paths)
constexpr const char* kChunkRows = "chunk_rows";     // merged stores: the shards' chunk height
}  // namespace store_attr

}  // namespace dv
