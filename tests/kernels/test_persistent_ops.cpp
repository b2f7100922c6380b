// test_persistent_ops.cpp: the persistent decode kernel's ops (kernels/persistent_decode), each launched on
// its own (one CTA per unit, decode_op_launch.h) and held against the plain reference of the same math:
// row_gemv against sparse_mlp_up_ref (gathered fc1 + bias + ReLU; written at the neuron's own column) and
// against a double-precision dot (LM head logits + the fused argmax), col_gemv against
// sparse_mlp_down_ref (neurons and heads, repeats, one split and many), qkv against sparse_qkv_ref (K/V
// catch-up from random kv_valid), attention against decode_attention_ref (many splits), layer_norm against
// layer_norm_ref (the predictor's ops: test_persistent_predictor_ops.cpp). Odd sizes, empty and full
// selections, device counts below capacity with a poisoned idx tail, outputs NaN-poisoned.
#include <gtest/gtest.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <numeric>
#include <tuple>
#include <vector>

#include "kernels/decode_attention/decode_attention_ref.h"
#include "kernels/layer_norm/layer_norm_ref.h"
#include "kernels/lowrank_predictor/lowrank_predictor_ref.h"
#include "kernels/persistent_decode/decode_op_launch.h"
#include "kernels/sparse_mlp_down/sparse_mlp_down_ref.h"
#include "kernels/sparse_mlp_up/sparse_mlp_up_ref.h"
#include "kernels/sparse_qkv/sparse_qkv_ref.h"
#include "tests/kernels/kernel_test_util.h"

namespace dv::kernels {
namespace {

using test::DeviceBuffer;
using test::DType;

std::vector<int> make_idx(int n, int k, int max_k, std::mt19937_64& rng) {
  std::vector<int> idx = test::random_indices(n, k, rng);
  idx.resize(static_cast<size_t>(std::max(max_k, 1)), INT_MAX / 2);  // a tail no op may read
  return idx;
}

struct GemvCase {
  int B, K, n, k, max_k;  // k < 0: no selection (rows 0..n-1)
};
const GemvCase kGemvCases[] = {{1, 8, 37, 1, 1},      {1, 40, 37, 0, 5},      {3, 136, 111, 111, 111},
                               {8, 1000, 1001, 333, 400}, {5, 2048, 300, -1, 0}, {2, 1016, 64, 63, 64},
                               {7, 96, 17, -1, 0}};

TEST(PersistentOps, RowGemvHalfMatchesSparseMlpUpReference) {
  DV_SKIP_WITHOUT_GPU();
  for (int ci = 0; ci < static_cast<int>(std::size(kGemvCases)); ++ci) {
    const GemvCase c = kGemvCases[ci];
    std::mt19937_64 rng(test::case_seed("row_gemv_op", ci));
    SCOPED_TRACE(::testing::Message() << "case " << ci);
    const bool gathered = c.k >= 0;
    const int k = gathered ? c.k : c.n, max_k = gathered ? c.max_k : c.n;
    const auto x = test::random_halves(static_cast<size_t>(c.B) * c.K, rng);
    const auto w = test::random_halves(static_cast<size_t>(c.n) * c.K, rng);
    const auto bias = test::random_halves(static_cast<size_t>(c.n), rng);
    std::vector<int> idx = gathered ? make_idx(c.n, k, max_k, rng) : std::vector<int>(c.n);
    if (!gathered) std::iota(idx.begin(), idx.end(), 0);
    DeviceBuffer<__half> dx(x.h), dw(w.h), db(bias.h), dout(static_cast<size_t>(c.B) * c.n);
    DeviceBuffer<int> didx(idx), dk(std::vector<int>{k});
    dout.poison();
    DecodeOpParams p;
    RowGemvOp& r = p.row_gemv;
    r.w = dw.data();
    r.x = dx.data();
    r.idx = gathered ? didx.data() : nullptr;
    r.count = gathered ? dk.data() : nullptr;
    r.max_rows = max_k;
    r.B = c.B;
    r.K = c.K;
    r.ldx = c.K;
    r.bias = db.data();
    r.relu = true;
    r.out = dout.data();
    r.ld_out = c.n;
    launch_decode_op(DecodeOpKind::kRowGemv, p, nullptr);

    std::vector<__half> ref(static_cast<size_t>(c.B) * std::max(k, 1));
    SparseMlpUpArgs a;
    a.h = ref.data();
    a.x = x.h.data();
    a.w1 = w.h.data();
    a.b1 = bias.h.data();
    a.idx = idx.data();
    a.k_dev = &k;
    a.B = c.B;
    a.d = c.K;
    a.ffn = c.n;
    a.max_k = k;
    a.ld_h = std::max(k, 1);
    sparse_mlp_up_ref(a);
    const std::vector<__half> got = dout.download();
    std::vector<float> g, rf;
    for (int b = 0; b < c.B; ++b)
      for (int j = 0; j < k; ++j) {
        g.push_back(__half2float(got[static_cast<size_t>(b) * c.n + idx[j]]));
        rf.push_back(__half2float(ref[static_cast<size_t>(b) * a.ld_h + j]));
      }
    if (!g.empty()) {
      ASSERT_TRUE(test::expect_close(g, rf, DType::kF16, "row_gemv h"));
    }
  }
}

// kLogits (fp32 logits and the fused greedy token, through ArgmaxOp).
TEST(PersistentOps, RowGemvLogitsAndArgmax) {
  DV_SKIP_WITHOUT_GPU();
  for (int ci = 0; ci < static_cast<int>(std::size(kGemvCases)); ++ci) {
    const GemvCase c = kGemvCases[ci];
    std::mt19937_64 rng(test::case_seed("row_gemv_logits", ci));
    SCOPED_TRACE(::testing::Message() << "case " << ci);
    const auto x = test::random_halves(static_cast<size_t>(c.B) * c.K, rng);
    const auto w = test::random_halves(static_cast<size_t>(c.n) * c.K, rng);
    std::vector<double> ref(static_cast<size_t>(c.B) * c.n);
    std::vector<int> best(c.B, 0);
    for (int b = 0; b < c.B; ++b)
      for (int j = 0; j < c.n; ++j) {
        double s = 0;
        for (int q = 0; q < c.K; ++q)
          s += static_cast<double>(w.f[static_cast<size_t>(j) * c.K + q]) * x.f[static_cast<size_t>(b) * c.K + q];
        ref[static_cast<size_t>(b) * c.n + j] = s;
        if (s > ref[static_cast<size_t>(b) * c.n + best[b]]) best[b] = j;
      }
    DeviceBuffer<__half> dx(x.h), dw(w.h);
    DeviceBuffer<float> dlogits(ref.size());
    DeviceBuffer<unsigned long long> dmax(c.B);
    DeviceBuffer<int> dtok(c.B);
    dlogits.poison();
    dmax.zero();
    DecodeOpParams p;
    RowGemvOp& r = p.row_gemv;
    r.w = dw.data();
    r.x = dx.data();
    r.max_rows = c.n;
    r.B = c.B;
    r.K = c.K;
    r.ldx = c.K;
    r.epilogue = RowEpilogue::kLogits;
    r.out_f32 = dlogits.data();
    r.ld_out = c.n;
    r.argmax = dmax.data();
    launch_decode_op(DecodeOpKind::kRowGemv, p, nullptr);
    DecodeOpParams a;
    a.argmax.tokens = dtok.data();
    a.argmax.argmax = dmax.data();
    a.argmax.B = c.B;
    launch_decode_op(DecodeOpKind::kArgmax, a, nullptr);

    const std::vector<float> logits = dlogits.download();
    ASSERT_TRUE(test::expect_close(logits, ref, DType::kF32, "logits"));
    const std::vector<int> tok = dtok.download();
    for (int b = 0; b < c.B; ++b) {  // the device's argmax of its own logits: first maximum
      const float* row = logits.data() + static_cast<size_t>(b) * c.n;
      EXPECT_EQ(tok[b], static_cast<int>(std::max_element(row, row + c.n) - row)) << "batch row " << b;
    }
    for (unsigned long long v : dmax.download()) EXPECT_EQ(v, 0ull) << "argmax not reset for the next step";
  }
}

struct ColCase {
  int B, d, rows, k, max_k, R, splits;  // k < 0: dense (rows), R: rows_per_index
};
const ColCase kColCases[] = {{1, 8, 37, 1, 1, 1, 1},        {1, 40, 37, 0, 5, 1, 1},      {3, 136, 111, 111, 111, 1, 1},
                             {8, 1000, 1001, 333, 400, 1, 3}, {5, 520, 300, -1, 0, 1, 2}, {2, 256, 256, 3, 4, 64, 1},
                             {4, 320, 320, 2, 4, 80, 2},    {1, 5120, 4096, -1, 0, 1, 7}, {6, 64, 40, 10, 10, 1, 10}};

TEST(PersistentOps, ColGemvMatchesSparseMlpDownReference) {
  DV_SKIP_WITHOUT_GPU();
  for (int ci = 0; ci < static_cast<int>(std::size(kColCases)); ++ci) {
    const ColCase c = kColCases[ci];
    std::mt19937_64 rng(test::case_seed("col_gemv_op", ci));
    SCOPED_TRACE(::testing::Message() << "case " << ci);
    const bool gathered = c.k >= 0;
    const int k = gathered ? c.k : c.rows, max_k = gathered ? c.max_k : c.rows, R = gathered ? c.R : 1;
    const int n_idx = c.rows / R;
    std::vector<int> idx = gathered ? make_idx(n_idx, k, max_k, rng) : std::vector<int>(c.rows);
    if (!gathered) std::iota(idx.begin(), idx.end(), 0);
    if (gathered && k >= 3) idx[0] = idx[2];  // a repeated index is added twice
    const auto h = test::random_halves(static_cast<size_t>(c.B) * c.rows, rng);  // at physical rows
    const auto wt = test::random_halves(static_cast<size_t>(c.rows) * c.d, rng);
    const auto resid = test::random_halves(static_cast<size_t>(c.B) * c.d, rng);
    const auto bias = test::random_halves(static_cast<size_t>(c.d), rng);
    DeviceBuffer<__half> dh(h.h), dw(wt.h), dr(resid.h), dbias(bias.h), dout(static_cast<size_t>(c.B) * c.d);
    DeviceBuffer<int> didx(idx), dk(std::vector<int>{k});
    DeviceBuffer<char> ws(col_gemv_workspace_bytes(c.B, c.d));
    ws.zero();
    DecodeOpParams p;
    ColGemvOp& o = p.col_gemv;
    o.out = dout.data();
    o.workspace = ws.data();
    o.resid = dr.data();
    o.bias = dbias.data();
    o.h = dh.data();
    o.wt = dw.data();
    o.idx = gathered ? didx.data() : nullptr;
    o.count = gathered ? dk.data() : nullptr;
    o.B = c.B;
    o.d = c.d;
    o.ld_h = c.rows;
    o.max_k = max_k;
    o.rows_per_index = R;
    o.splits = c.splits;
    for (int rep = 0; rep < 2; ++rep) {  // the second run checks the workspace was left at zero
      dout.poison();
      launch_decode_op(DecodeOpKind::kColGemv, p, nullptr);
    }
    // The reference takes h compact in selection order: gather it.
    const int ld_c = std::max(k * R, 4) + 4;
    std::vector<__half> hc(static_cast<size_t>(c.B) * ld_c, __float2half(0.f));
    for (int b = 0; b < c.B; ++b)
      for (int q = 0; q < k * R; ++q)
        hc[static_cast<size_t>(b) * ld_c + q] = h.h[static_cast<size_t>(b) * c.rows + idx[q / R] * R + q % R];
    std::vector<__half> ref(static_cast<size_t>(c.B) * c.d);
    SparseMlpDownArgs a;
    a.out = ref.data();
    a.resid = resid.h.data();
    a.b2 = bias.h.data();
    a.h = hc.data();
    a.w2t = wt.h.data();
    a.idx = idx.data();
    a.k_dev = &k;
    a.B = c.B;
    a.d = c.d;
    a.ffn_rows = c.rows;
    a.max_k = k;
    a.ld_h = ld_c;
    a.rows_per_index = R;
    sparse_mlp_down_ref(a);
    ASSERT_TRUE(test::expect_close(dout.download(), test::to_float(ref), DType::kF16, "col_gemv out"));
  }
}

// Attention over many splits (merge by the last arriving unit), heads in any order, empty selection.
TEST(PersistentOps, AttentionMatchesDecodeAttentionReference) {
  DV_SKIP_WITHOUT_GPU();
  struct Case { int B, H, hd, len, max_len, n_heads, splits; };
  const Case cases[] = {{1, 4, 64, 1, 8, 4, 1},   {2, 3, 80, 130, 200, 2, 3},  {3, 5, 128, 1000, 1024, 5, 16},
                        {1, 2, 16, 65, 65, 1, 2}, {4, 6, 32, 2048, 2048, 0, 2}, {8, 2, 64, 300, 300, 2, 5}};
  for (int ci = 0; ci < static_cast<int>(std::size(cases)); ++ci) {
    const Case c = cases[ci];
    std::mt19937_64 rng(test::case_seed("attention_op", ci));
    SCOPED_TRACE(::testing::Message() << "case " << ci);
    const size_t qn = static_cast<size_t>(c.B) * c.H * c.hd, kvn = qn * c.max_len;
    const auto q = test::random_halves(qn, rng, -2.f, 2.f);
    const auto k = test::random_halves(kvn, rng), v = test::random_halves(kvn, rng);
    std::vector<int> heads = test::random_indices(c.H, c.n_heads, rng);
    heads.resize(std::max<size_t>(heads.size(), 1), INT_MAX / 2);
    const int count = c.n_heads, pos = c.len - 1, max_heads = std::max(c.n_heads, 1);
    DeviceBuffer<__half> dq(q.h), dk(k.h), dv(v.h), dout(qn);
    DeviceBuffer<float> parts(static_cast<size_t>(c.B) * max_heads * c.splits * (c.hd + 2));
    DeviceBuffer<int> tickets(static_cast<size_t>(c.B) * max_heads), dheads(heads), dcount(std::vector<int>{count}),
        dpos(std::vector<int>{pos});
    tickets.zero();
    dout.poison();
    DecodeOpParams p;
    AttentionOp& a = p.attention;
    a.out = dout.data();
    a.partials = parts.data();
    a.tickets = tickets.data();
    a.q = dq.data();
    a.k_cache = dk.data();
    a.v_cache = dv.data();
    a.heads = dheads.data();
    a.count = dcount.data();
    a.pos = dpos.data();
    a.B = c.B;
    a.num_heads = c.H;
    a.head_dim = c.hd;
    a.max_len = c.max_len;
    a.max_heads = max_heads;
    a.splits = c.splits;
    launch_decode_op(DecodeOpKind::kAttention, p, nullptr);
    std::vector<__half> ref(qn, __half(__half_raw{0xFFFFu}));
    DecodeAttentionArgs r{ref.data(), nullptr, nullptr, q.h.data(), k.h.data(), v.h.data(), heads.data(), &count, &pos,
                          c.B,        c.H,     c.hd,    c.max_len,  max_heads,  c.splits};
    decode_attention_ref(r);
    const std::vector<__half> got = dout.download();
    std::vector<float> g, rf;
    for (int b = 0; b < c.B; ++b)
      for (int s = 0; s < count; ++s)
        for (int i = 0; i < c.hd; ++i) {
          const size_t at = (static_cast<size_t>(b) * c.H + heads[s]) * c.hd + i;
          g.push_back(__half2float(got[at]));
          rf.push_back(__half2float(ref[at]));
        }
    if (!g.empty()) {
      ASSERT_TRUE(test::expect_close(g, rf, DType::kF16, "attention out"));
    }
    for (int t : tickets.download()) ASSERT_EQ(t, 0) << "merge ticket not reset";
  }
}

// One step of QKV with K/V catch-up from random kv_valid (and the dense form without history).
TEST(PersistentOps, QkvMatchesSparseQkvReference) {
  DV_SKIP_WITHOUT_GPU();
  struct Case { int B, H, hd, max_len, pos, n_heads; bool history; };
  const Case cases[] = {{1, 4, 64, 20, 7, 2, true}, {3, 5, 80, 12, 11, 5, true}, {2, 2, 128, 6, 0, 1, true},
                        {8, 3, 16, 9, 8, 3, true},  {5, 4, 32, 5, 3, 4, false}, {2, 3, 64, 4, 2, 0, true}};
  for (int ci = 0; ci < static_cast<int>(std::size(cases)); ++ci) {
    const Case c = cases[ci];
    std::mt19937_64 rng(test::case_seed("qkv_op", ci));
    SCOPED_TRACE(::testing::Message() << "case " << ci);
    const int d = c.H * c.hd, slots = 2 * c.hd / 16;
    const size_t cache = static_cast<size_t>(c.B) * c.H * c.max_len * c.hd, hist = static_cast<size_t>(c.B) * c.max_len * d;
    const auto x = test::random_halves(static_cast<size_t>(c.B) * d, rng);
    const auto w = test::random_halves(static_cast<size_t>(3) * d * d, rng, -0.1f, 0.1f);
    const auto bq = test::random_halves(static_cast<size_t>(3) * d, rng);
    const auto xh = test::random_halves(hist, rng);
    std::vector<__half> kc(cache, __half(__half_raw{0xFFFFu})), vc = kc, q(static_cast<size_t>(c.B) * d, kc[0]);
    std::vector<int> valid(static_cast<size_t>(c.H) * slots);
    for (int& v : valid) v = c.history ? static_cast<int>(rng() % (c.pos + 1)) : c.pos;
    std::vector<int> heads = test::random_indices(c.H, c.n_heads, rng);
    heads.resize(std::max<size_t>(heads.size(), 1), INT_MAX / 2);
    const int count = c.n_heads, pos = c.pos;
    DeviceBuffer<__half> dx(x.h), dw(w.h), db(bq.h), dxh(xh.h), dk(kc), dv(vc), dq(q);
    DeviceBuffer<int> dvalid(valid), dheads(heads), dcount(std::vector<int>{count}), dpos(std::vector<int>{pos});
    DecodeOpParams p;
    QkvOp& o = p.qkv;
    o.q = dq.data();
    o.k_cache = dk.data();
    o.v_cache = dv.data();
    o.x_hist = c.history ? dxh.data() : nullptr;
    o.kv_valid = c.history ? dvalid.data() : nullptr;
    o.x = dx.data();
    o.w_qkv = dw.data();
    o.b_qkv = db.data();
    o.heads = dheads.data();
    o.count = dcount.data();
    o.pos = dpos.data();
    o.B = c.B;
    o.num_heads = c.H;
    o.head_dim = c.hd;
    o.max_len = c.max_len;
    o.max_heads = std::max(c.n_heads, 1);
    launch_decode_op(DecodeOpKind::kQkv, p, nullptr);

    std::vector<__half> rxh = xh.h;
    SparseQkvArgs r;
    r.q = q.data();
    r.k_cache = kc.data();
    r.v_cache = vc.data();
    r.x_hist = rxh.data();
    r.kv_valid = valid.data();
    r.x = x.h.data();
    r.w_qkv = w.h.data();
    r.b_qkv = bq.h.data();
    r.heads = heads.data();
    r.num_selected = &count;
    r.pos = &pos;
    r.batch = c.B;
    r.num_heads = c.H;
    r.head_dim = c.hd;
    r.max_len = c.max_len;
    r.max_heads = o.max_heads;
    sparse_qkv_ref(r);
    // Poisoned entries must stay poisoned (NaN on both sides), so compare the finite reference entries and
    // require the same NaN pattern.
    for (const auto& [got, ref, what] : {std::tuple{dq.download(), q, "q"}, std::tuple{dk.download(), kc, "K"},
                                         std::tuple{dv.download(), vc, "V"}}) {
      std::vector<float> g, rf;
      for (size_t i = 0; i < ref.size(); ++i) {
        const bool ref_set = !std::isnan(__half2float(ref[i]));
        ASSERT_EQ(ref_set, !std::isnan(__half2float(got[i]))) << what << " entry " << i << " written differently";
        if (ref_set) {
          g.push_back(__half2float(got[i]));
          rf.push_back(__half2float(ref[i]));
        }
      }
      if (!g.empty()) {
        ASSERT_TRUE(test::expect_close(g, rf, DType::kF16, what));
      }
    }
    if (c.history) {
      EXPECT_EQ(dvalid.download(), valid) << "kv_valid";
      const std::vector<__half> got_hist = dxh.download();
      for (size_t i = 0; i < rxh.size(); ++i)
        ASSERT_EQ(__half_as_ushort(got_hist[i]), __half_as_ushort(rxh[i])) << "x_hist entry " << i;
    }
  }
}

TEST(PersistentOps, LayerNormMatchesReference) {
  DV_SKIP_WITHOUT_GPU();
  struct Case { int B, d; bool residual, bias, sum_out; };
  const Case cases[] = {{1, 8, false, false, false}, {3, 136, true, true, true}, {8, 5120, true, true, false},
                        {2, 12288, true, false, true}, {5, 2056, false, true, true}};
  for (int ci = 0; ci < static_cast<int>(std::size(cases)); ++ci) {
    const Case c = cases[ci];
    std::mt19937_64 rng(test::case_seed("layer_norm_op", ci));
    SCOPED_TRACE(::testing::Message() << "case " << ci);
    const size_t n = static_cast<size_t>(c.B) * c.d;
    const auto x = test::random_halves(n, rng, -3.f, 3.f), res = test::random_halves(n, rng);
    const auto bias = test::random_halves(c.d, rng), gamma = test::random_halves(c.d, rng),
               beta = test::random_halves(c.d, rng);
    DeviceBuffer<__half> dx(x.h), dres(res.h), dbias(bias.h), dg(gamma.h), dbeta(beta.h), dy(n), dsum(n);
    dy.poison();
    dsum.poison();
    DecodeOpParams p;
    LayerNormOp& o = p.layer_norm;
    o.y = dy.data();
    o.sum_out = c.sum_out ? dsum.data() : nullptr;
    o.x = dx.data();
    o.residual = c.residual ? dres.data() : nullptr;
    o.bias = c.bias ? dbias.data() : nullptr;
    o.gamma = dg.data();
    o.beta = dbeta.data();
    o.B = c.B;
    o.d = c.d;
    launch_decode_op(DecodeOpKind::kLayerNorm, p, nullptr);
    std::vector<__half> y(n), sum(n);
    LayerNormArgs r;
    r.y = y.data();
    r.sum_out = c.sum_out ? sum.data() : nullptr;
    r.x = x.h.data();
    r.residual = c.residual ? res.h.data() : nullptr;
    r.bias = c.bias ? bias.h.data() : nullptr;
    r.gamma = gamma.h.data();
    r.beta = beta.h.data();
    r.rows = c.B;
    r.d = c.d;
    layer_norm_ref(r);
    ASSERT_TRUE(test::expect_close(dy.download(), test::to_float(y), DType::kF16, "y"));
    if (c.sum_out && (c.residual || c.bias)) {
      ASSERT_TRUE(test::expect_close(dsum.download(), test::to_float(sum), DType::kF16, "sum_out"));
    }
  }
}

}  // namespace
}  // namespace dv::kernels
