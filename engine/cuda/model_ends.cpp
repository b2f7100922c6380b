// model_ends.cpp: see model_ends.h.
#include "engine/cuda/model_ends.h"

#include "engine/cuda/cublas_ops.h"
#include "engine/cuda/tensor_ptr.h"
#include "kernels/elementwise/elementwise.cuh"

namespace dv::engine {

void embed_tokens(const EngineContext& ctx, const GpuWeights& w, const ModelDims& m, const int* tokens,
                  const int* positions, int rows, const at::Tensor& emb, __half* out, cudaStream_t stream) {
  EmbeddingArgs a;
  a.tokens = tokens;
  a.positions = positions;
  a.word_embed = half_ptr(w.embed_tokens);
  a.rows = rows;
  a.vocab = m.vocab;
  a.d = m.embed;
  a.max_positions = m.max_positions;
  if (!w.project_in.defined()) {
    a.out = out;
    a.pos_embed = half_ptr(w.embed_positions);
    launch_embedding(a, stream);
    return;
  }
  a.out = half_ptr(emb);
  launch_embedding(a, stream);
  linear(ctx.cublas(), out, half_ptr(emb), half_ptr(w.project_in), rows, m.d, m.embed);
  PositionAddArgs p;
  p.x = out;
  p.positions = positions;
  p.pos_embed = half_ptr(w.embed_positions);
  p.rows = rows;
  p.d = m.d;
  p.max_positions = m.max_positions;
  launch_position_add(p, stream);
}

void lm_head_logits(const EngineContext& ctx, const GpuWeights& w, const ModelDims& m, const __half* x, int rows,
                    const at::Tensor& head_in, float* logits) {
  const __half* in = x;
  if (w.project_out.defined()) {
    linear(ctx.cublas(), half_ptr(head_in), x, half_ptr(w.project_out), rows, m.embed, m.d);
    in = half_ptr(head_in);
  }
  linear_f32_out(ctx.cublas(), logits, in, half_ptr(w.lm_head), rows, m.vocab, m.embed);
}

}  // namespace dv::engine
