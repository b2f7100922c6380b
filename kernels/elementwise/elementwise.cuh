// elementwise.cuh: the small memory-bound ops around the dense engine's GEMMs and at the model's entry:
// bias + ReLU in place (after fc1), bias + residual add (after out_proj / fc2), the token embedding lookup
// (optionally fused with OPT's learned positions) and the position add on its own.
// Why the position add exists separately: when OPT's word_embed_proj_dim differs from d (opt-350m), the
// engine runs project_in as a GEMM between the word embedding and the position add.
// Token ids and positions are read from device memory so the decode step can be captured in a CUDA graph.
//
// Access pattern: grid-stride over 16-byte vectors (8 fp16), coalesced; each input read once, each output
// written once; bias rows (n * 2 bytes) and gathered embedding rows are read as whole 16-byte vectors.
// Bytes: bias_relu 2 * rows * n * 2; bias_residual 3 * rows * n * 2; embedding rows * d * 2 * (2 or 3).
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

namespace dv {

// OPTLearnedPositionalEmbedding: row positions[r] + 2 of a table with max_positions + 2 rows.
constexpr int kOptPositionOffset = 2;

// x[r, c] = max(x[r, c] + bias[c], 0), in place. n a multiple of 8.
struct BiasReluArgs {
  __half* x = nullptr;           // [rows, n]
  const __half* bias = nullptr;  // [n]
  int rows = 0;
  int n = 0;
};

// out[r, c] = x[r, c] + residual[r, c] (+ bias[c]), rounded once to fp16. out may alias x or residual.
struct BiasResidualArgs {
  __half* out = nullptr;             // [rows, n]
  const __half* x = nullptr;         // [rows, n]
  const __half* residual = nullptr;  // [rows, n]
  const __half* bias = nullptr;      // [n] or nullptr
  int rows = 0;
  int n = 0;
};

// out[r] = word_embed[tokens[r]] (+ pos_embed[positions[r] + 2] when pos_embed != nullptr, which needs
// d == pos_width). A token outside [0, vocab) or a position outside [0, max_positions) makes that output
// row NaN (the kernel cannot throw; NaN reaches the logits instead of a wrong row read silently).
struct EmbeddingArgs {
  __half* out = nullptr;               // [rows, d]
  const int* tokens = nullptr;         // [rows] device
  const int* positions = nullptr;      // [rows] device; only read when pos_embed != nullptr
  const __half* word_embed = nullptr;  // [vocab, d]
  const __half* pos_embed = nullptr;   // [max_positions + 2, d] or nullptr
  int rows = 0;
  int vocab = 0;
  int d = 0;              // word_embed_proj_dim; multiple of 8
  int max_positions = 0;  // OPT max_position_embeddings (2048)
};

// x[r] += pos_embed[positions[r] + 2], rounded once to fp16; out-of-range positions give NaN rows.
struct PositionAddArgs {
  __half* x = nullptr;                // [rows, d]
  const int* positions = nullptr;     // [rows] device
  const __half* pos_embed = nullptr;  // [max_positions + 2, d]
  int rows = 0;
  int d = 0;  // multiple of 8
  int max_positions = 0;
};

// Each throws dv::Error on bad sizes or pointers not 16-byte aligned; rows == 0 launches nothing.
void launch_bias_relu(const BiasReluArgs& args, cudaStream_t stream);
void launch_bias_residual(const BiasResidualArgs& args, cudaStream_t stream);
void launch_embedding(const EmbeddingArgs& args, cudaStream_t stream);
void launch_position_add(const PositionAddArgs& args, cudaStream_t stream);

}  // namespace dv
