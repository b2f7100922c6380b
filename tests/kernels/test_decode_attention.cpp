// test_decode_attention.cpp: split-sequence decode attention against the double-precision reference over
// sequence lengths 1..1000, batch 1..8, head counts 0..all (unsorted, one with a duplicate), split counts
// from 1 to the maximum. Cache positions at or past len hold NaN, so reading past the causal length fails;
// the output is compact in selection order (the out-projection's input) and its columns past the selected
// slots (and a padded row's tail) must stay poisoned; the merge tickets must be back at zero after every
// launch; odd cases run with L2 warm units in front. A CUDA-graph case replays one capture with pos and the head list changed in device memory.
#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <string>
#include <vector>

#include "kernels/decode_attention/decode_attention.cuh"
#include "kernels/decode_attention/decode_attention_ref.h"
#include "tests/kernels/kernel_test_util.h"

namespace dv {
namespace {

using test::DeviceBuffer;
using test::DType;

struct AttnCase {
  int batch;
  int heads;
  int len;
  int max_len;
  int k;          // selected heads; -1: all but one, plus a duplicate entry
  int splits;     // 0: decode_attention_max_splits(); otherwise forced
  float q_range;  // q uniform in [-q_range, q_range]: large values give peaked softmaxes
  int hd;         // head_dim
};

const std::vector<AttnCase> kCases = {
    {1, 1, 1, 1, 1, 0, 1.f, 64},        {1, 3, 2, 9, 2, 0, 2.f, 64},          {3, 5, 17, 20, 5, 0, 2.f, 64},
    {8, 12, 130, 130, 6, 0, 2.f, 64},   {1, 12, 1000, 1024, 3, 0, 4.f, 64},   {3, 3, 1000, 1003, 3, 0, 8.f, 64},
    {1, 5, 130, 200, 0, 0, 2.f, 64},    {1, 12, 1000, 2048, 12, 64, 2.f, 64}, {8, 1, 1000, 1000, 1, 1, 2.f, 64},
    {3, 5, 130, 130, -1, 3, 2.f, 64},   {1, 12, 65, 70, 4, 2, 20.f, 64},      {8, 12, 1000, 1000, 12, 0, 2.f, 64},
    {1, 40, 130, 140, 20, 0, 2.f, 128}, {3, 7, 1000, 1001, 7, 0, 4.f, 128},   {1, 5, 17, 17, -1, 0, 2.f, 128},
    {2, 32, 130, 131, 11, 5, 2.f, 80},  {1, 3, 1, 4, 3, 0, 2.f, 80},          {8, 56, 2, 2, 28, 0, 2.f, 128},
    {3, 16, 130, 140, 5, 0, 2.f, 16},   {1, 16, 1000, 1003, -1, 0, 4.f, 16},  {2, 7, 17, 20, 7, 3, 8.f, 16},
    {2, 8, 65, 70, 3, 2, 2.f, 32},      {8, 4, 1000, 1000, 4, 0, 8.f, 32},    {1, 3, 1, 1, 1, 0, 1.f, 32},
};

std::string describe(const AttnCase& c) {
  return "B=" + std::to_string(c.batch) + " H=" + std::to_string(c.heads) + " len=" + std::to_string(c.len) +
         " max_len=" + std::to_string(c.max_len) + " k=" + std::to_string(c.k) + " splits=" + std::to_string(c.splits) +
         " hd=" + std::to_string(c.hd);
}

bool is_poison(__half h) { return __half_raw(h).x == 0xFFFFu; }

int num_sms() {
  int device = 0, sms = 0;
  DV_CUDA_CHECK(cudaGetDevice(&device));
  DV_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
  return sms;
}

// Random cache with NaN at every position >= len (must never be read) and a random query.
struct AttnInputs {
  std::vector<__half> q, k, v;
};
AttnInputs make_inputs(const AttnCase& c, std::mt19937_64& rng) {
  AttnInputs in;
  const size_t bh = static_cast<size_t>(c.batch) * c.heads;
  const int hd = c.hd;
  in.q = test::random_halves(bh * hd, rng, -c.q_range, c.q_range).h;
  in.k = test::random_halves(bh * c.max_len * hd, rng).h;
  in.v = test::random_halves(bh * c.max_len * hd, rng).h;
  const __half nan = __float2half(std::numeric_limits<float>::quiet_NaN());
  for (size_t i = 0; i < bh; ++i)
    for (size_t t = c.len; t < static_cast<size_t>(c.max_len); ++t)
      for (int j = 0; j < hd; ++j) in.k[(i * c.max_len + t) * hd + j] = in.v[(i * c.max_len + t) * hd + j] = nan;
  return in;
}

// Selected heads (unsorted); k == -1 selects all but one head and repeats one entry.
std::vector<int> make_heads(const AttnCase& c, std::mt19937_64& rng) {
  if (c.k >= 0) return test::random_indices(c.heads, c.k, rng);
  std::vector<int> heads = test::random_indices(c.heads, c.heads - 1, rng);
  heads.push_back(heads.front());
  return heads;
}

// Compares the compact output (slot j of row b at columns j * hd of a row of ld_out) with the reference;
// columns past the selected slots must still be poison.
void check_output(const AttnCase& c, const std::vector<int>& heads, int ld_out, const std::vector<__half>& got,
                  const std::vector<__half>& ref) {
  std::vector<__half> g;
  std::vector<float> r;
  for (int b = 0; b < c.batch; ++b)
    for (int col = 0; col < ld_out; ++col) {
      const size_t i = static_cast<size_t>(b) * ld_out + col;
      if (col / c.hd >= static_cast<int>(heads.size())) {
        ASSERT_TRUE(is_poison(got[i])) << "column " << col << " past the selected slots written";
        continue;
      }
      g.push_back(got[i]);
      r.push_back(__half2float(ref[i]));
    }
  if (!g.empty()) {
    ASSERT_TRUE(test::expect_close(g, r, DType::kF16, "attention output"));
  }
}

TEST(DecodeAttentionKernel, MatchesReference) {
  DV_SKIP_WITHOUT_GPU();
  const int sms = num_sms();
  for (size_t ci = 0; ci < kCases.size(); ++ci) {
    const AttnCase& c = kCases[ci];
    SCOPED_TRACE(describe(c));
    std::mt19937_64 rng(test::case_seed("decode_attention", static_cast<int>(ci)));
    const AttnInputs in = make_inputs(c, rng);
    const std::vector<int> heads = make_heads(c, rng);
    const int max_heads = std::max<int>(static_cast<int>(heads.size()), 1);
    const int count = static_cast<int>(heads.size()), pos = c.len - 1;
    const int splits = c.splits > 0 ? c.splits : decode_attention_max_splits(c.batch, max_heads, c.max_len, sms);

    const int ld_out = max_heads * c.hd + (ci % 2 == 1 ? 8 : 0);  // odd cases: padded rows
    const size_t out_size = static_cast<size_t>(c.batch) * ld_out;
    DeviceBuffer<__half> dq(in.q), dk(in.k), dv(in.v), dout(out_size);
    DeviceBuffer<float> partials(decode_attention_partials_floats(c.batch, max_heads, splits, c.hd));
    DeviceBuffer<int> tickets(static_cast<size_t>(c.batch) * max_heads), dheads(std::max<size_t>(heads.size(), 1)),
        dcount(std::vector<int>{count}), dpos(std::vector<int>{pos});
    if (!heads.empty()) dheads.upload(heads);
    tickets.zero();
    partials.poison();
    dout.poison();
    DecodeAttentionArgs args{dout.data(),   partials.data(), tickets.data(), dq.data(), dk.data(), dv.data(),
                             dheads.data(), dcount.data(),   dpos.data(),    c.batch,   c.heads,   c.hd,
                             c.max_len,     max_heads,       splits,         ld_out};
    // Twice: the second launch checks that the first left the tickets at zero. Odd cases run with warm units
    // in front (kernels/common/l2_warmup.cuh) prefetching the K cache of the selected heads, a 3-block budget
    // and, where a head is selected, one index out of range: the output must not change.
    for (int rep = 0; rep < 2; ++rep) {
      if (ci % 2 == 0) {
        launch_decode_attention(args, nullptr);
        continue;
      }
      kernels::L2Warmup warm;
      warm.base = reinterpret_cast<const char*>(dk.data());
      warm.idx = dheads.data();
      warm.count = dcount.data();
      warm.max_count = max_heads;
      warm.num_indices = c.heads - (count > 0 ? 1 : 0);
      warm.block_bytes = static_cast<unsigned>(c.max_len) * c.hd * 2;
      warm.budget_bytes = 3ll * warm.block_bytes;
      launch_decode_attention(args, warm, sms, nullptr);
    }

    std::vector<__half> ref(out_size, __half(__half_raw{0xFFFFu}));
    DecodeAttentionArgs rargs = args;
    rargs.out = ref.data();
    rargs.q = in.q.data();
    rargs.k_cache = in.k.data();
    rargs.v_cache = in.v.data();
    rargs.heads = heads.data();
    rargs.num_selected = &count;
    rargs.pos = &pos;
    decode_attention_ref(rargs);
    check_output(c, heads, ld_out, dout.download(), ref);
    for (int t : tickets.download()) ASSERT_EQ(t, 0) << "merge ticket not reset";
  }
}

// One captured launch replayed over several steps: pos, the head count and the head list change in device
// memory only, as in the engine's decode graph.
TEST(DecodeAttentionKernel, GraphReplayWithChangingPosAndHeads) {
  DV_SKIP_WITHOUT_GPU();
  const AttnCase c{3, 12, 1000, 1000, 12, 0, 2.f, 128};
  std::mt19937_64 rng(test::case_seed("decode_attention_graph", 0));
  const AttnInputs in = make_inputs(c, rng);
  const int splits = decode_attention_max_splits(c.batch, c.heads, c.max_len, num_sms());
  DeviceBuffer<__half> dq(in.q), dk(in.k), dv(in.v), dout(in.q.size());
  DeviceBuffer<float> partials(decode_attention_partials_floats(c.batch, c.heads, splits, c.hd));
  DeviceBuffer<int> tickets(static_cast<size_t>(c.batch) * c.heads), dheads(c.heads), dcount(1), dpos(1);
  tickets.zero();
  const DecodeAttentionArgs args{dout.data(),   partials.data(), tickets.data(), dq.data(), dk.data(), dv.data(),
                                 dheads.data(), dcount.data(),   dpos.data(),    c.batch,   c.heads,   c.hd,
                                 c.max_len,     c.heads,         splits,         c.heads * c.hd};
  cudaStream_t stream = nullptr;
  DV_CUDA_CHECK(cudaStreamCreate(&stream));
  DV_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
  launch_decode_attention(args, stream);
  cudaGraph_t graph = nullptr;
  DV_CUDA_CHECK(cudaStreamEndCapture(stream, &graph));
  cudaGraphExec_t exec = nullptr;
  DV_CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));

  for (int len : {1, 64, 65, 130, 999, 1000, 17}) {  // K/V past len are finite here: only len bounds the read
    SCOPED_TRACE("len " + std::to_string(len));
    const int k = static_cast<int>(rng() % (c.heads + 1));
    std::vector<int> heads = test::random_indices(c.heads, k, rng), padded = heads;
    while (static_cast<int>(padded.size()) < c.heads) padded.push_back(static_cast<int>(rng() % c.heads));
    dheads.upload(padded);
    dcount.upload({k});
    dpos.upload({len - 1});
    dout.poison(stream);
    DV_CUDA_CHECK(cudaGraphLaunch(exec, stream));
    DV_CUDA_CHECK(cudaStreamSynchronize(stream));

    AttnCase at_len = c;
    at_len.len = len;
    std::vector<__half> ref(in.q.size(), __half(__half_raw{0xFFFFu}));  // [B, H * hd]: ld_out = H * hd
    const int pos = len - 1;
    DecodeAttentionArgs rargs = args;
    rargs.out = ref.data();
    rargs.q = in.q.data();
    rargs.k_cache = in.k.data();
    rargs.v_cache = in.v.data();
    rargs.heads = heads.data();
    rargs.num_selected = &k;
    rargs.pos = &pos;
    decode_attention_ref(rargs);
    check_output(at_len, heads, c.heads * c.hd, dout.download(), ref);
    if (HasFatalFailure()) break;
  }
  (void)cudaGraphExecDestroy(exec);
  (void)cudaGraphDestroy(graph);
  (void)cudaStreamDestroy(stream);
}

TEST(DecodeAttentionKernel, RejectsBadArguments) {
  DecodeAttentionArgs a;
  a.batch = 1;
  a.num_heads = 4;
  a.max_heads = 4;
  a.max_len = 4096;
  a.head_dim = 96;
  a.max_splits = 4;
  EXPECT_THROW(launch_decode_attention(a, nullptr), Error);
  a.head_dim = 64;
  a.max_splits = 2;  // 4096 keys need at least 4 splits of at most 1024
  EXPECT_THROW(launch_decode_attention(a, nullptr), Error);
  a.max_splits = 4;
  a.ld_out = 4 * 64 - 8;  // narrower than four heads' outputs
  EXPECT_THROW(launch_decode_attention(a, nullptr), Error);
  EXPECT_GE(decode_attention_max_splits(1, 4, 4096, 132), 4);
  EXPECT_EQ(decode_attention_max_splits(32, 96, 2048, 132), 2);
}

}  // namespace
}  // namespace dv
