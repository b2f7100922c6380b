// decode_attention.cu: the graph path's launch of decode_attention (one CTA per unit of DecodeAttentionOp,
// decode_attention_op.cuh, with PDL), its argument checks and the split plan.
#include "kernels/decode_attention/decode_attention.cuh"

#include <algorithm>
#include <cstdint>

#include "kernels/common/cuda_check.h"
#include "kernels/common/work_units.cuh"
#include "kernels/decode_attention/decode_attention_op.cuh"

namespace dv {
namespace {

constexpr int kMinChunk = kDecodeAttentionMinChunk;
constexpr int kMaxChunk = kDecodeAttentionMaxChunk;

// Floats per split partial: unnormalised output, max, sum.
constexpr int partial_stride(int head_dim) { return head_dim + 2; }

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

int min_splits(int max_len) { return (max_len + kMaxChunk - 1) / kMaxChunk; }

bool supported(int head_dim) {
  return head_dim == 16 || head_dim == 32 || head_dim == 64 || head_dim == 80 || head_dim == 128;
}

}  // namespace

int decode_attention_max_splits(int batch, int max_heads, int max_len, int num_sms) {
  const int units_per_split = std::max(1, batch * std::max(max_heads, 1));
  // Two 256-thread units per SM when every head slot is used; with fewer heads selected the surplus split
  // units exit at once.
  int s = (2 * std::max(num_sms, 1) + units_per_split - 1) / units_per_split;
  s = std::min(s, std::max(1, (max_len + kMinChunk - 1) / kMinChunk));  // no split under kMinChunk keys
  s = std::max(s, min_splits(max_len));
  return std::clamp(s, 1, kDecodeAttentionMaxSplits);
}

size_t decode_attention_partials_floats(int batch, int max_heads, int max_splits, int head_dim) {
  return static_cast<size_t>(batch) * std::max(max_heads, 1) * max_splits * partial_stride(head_dim);
}

void check_decode_attention_args(const DecodeAttentionArgs& a) {
  DV_CHECK(supported(a.head_dim), "decode_attention: head_dim {} unsupported (16, 32, 64, 80 or 128)", a.head_dim);
  DV_CHECK(a.batch > 0 && a.num_heads > 0 && a.max_len > 0,
           "decode_attention: batch = {}, num_heads = {}, max_len = {} must be positive", a.batch, a.num_heads,
           a.max_len);
  DV_CHECK(a.max_heads >= 0 && a.max_heads <= a.num_heads, "decode_attention: max_heads = {} outside [0, {}]",
           a.max_heads, a.num_heads);
  DV_CHECK(a.ld_out >= a.max_heads * a.head_dim, "decode_attention: ld_out = {} is less than max_heads x head_dim = {}",
           a.ld_out, a.max_heads * a.head_dim);
  DV_CHECK(a.max_splits >= min_splits(a.max_len) && a.max_splits <= kDecodeAttentionMaxSplits,
           "decode_attention: max_splits = {} must be in [{}, {}] for max_len {} (use decode_attention_max_splits)",
           a.max_splits, min_splits(a.max_len), kDecodeAttentionMaxSplits, a.max_len);
  DV_CHECK(a.out && a.partials && a.tickets && a.q && a.k_cache && a.v_cache && a.heads && a.num_selected && a.pos,
           "decode_attention: every pointer must be non-null");
  DV_CHECK(aligned16(a.q) && aligned16(a.k_cache) && aligned16(a.v_cache),
           "decode_attention: q, k_cache and v_cache must be 16-byte aligned (16-byte vector access)");
}

void launch_decode_attention(const DecodeAttentionArgs& a, cudaStream_t stream) {
  launch_decode_attention(a, kernels::L2Warmup{}, 0, stream);
}

void launch_decode_attention(const DecodeAttentionArgs& a, const kernels::L2Warmup& warm_next, int num_sms,
                             cudaStream_t stream) {
  check_decode_attention_args(a);
  kernels::check_l2_warmup(warm_next, "decode_attention");
  kernels::launch_units_warmed(kernels::DecodeAttentionOp{a}, warm_next, num_sms, stream, "decode_attention");
}

}  // namespace dv
