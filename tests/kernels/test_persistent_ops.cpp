// test_persistent_ops.cpp: the persistent decode kernel's own ops (kernels/persistent_decode: the layers run
// the graph path's ops, whose kernel tests are their own), each launched on its own (one CTA per unit,
// decode_op_launch.h) and held against the plain reference of the same math: row_gemv against
// sparse_mlp_up_ref (gathered rows + bias + ReLU, written at the row's own column) and against a
// double-precision dot (LM head logits + the fused argmax), row_gemv_ln against layer_norm_ref then
// sparse_mlp_up_ref, layer_norm against layer_norm_ref (the predictor's
// ops: test_persistent_predictor_ops.cpp). Odd sizes, empty and full selections, device counts below capacity
// with a poisoned idx tail, outputs NaN-poisoned.
#include <gtest/gtest.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <numeric>
#include <vector>

#include "kernels/layer_norm/layer_norm_ref.h"
#include "kernels/lowrank_predictor/lowrank_predictor_ref.h"
#include "kernels/persistent_decode/decode_op_launch.h"
#include "kernels/sparse_mlp_up/sparse_mlp_up_ref.h"
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

// The case's up projection (bias + ReLU) on device buffers: gathered by idx / count, or every row.
template <class Op>
Op up_op(const GemvCase& c, int max_k, const __half* w, const __half* x, const int* idx, const int* count,
         const __half* bias, __half* out, int ld_out, bool compact) {
  Op r;
  r.w = w;
  r.x = x;
  r.idx = idx;
  r.count = count;
  r.max_rows = max_k;
  r.B = c.B;
  r.K = c.K;
  r.ldx = c.K;
  r.bias = bias;
  r.relu = true;
  r.out = out;
  r.ld_out = ld_out;
  r.compact = compact;
  return r;
}

// sparse_mlp_up_ref of the case's first k entries on host x, held against the op's output (at entry j when
// compact, else at row idx[j]).
void expect_up_ref(const GemvCase& c, int k, const std::vector<int>& idx, const __half* x, const __half* w,
                   const __half* bias, const std::vector<__half>& got, int ld_out, bool compact) {
  std::vector<__half> ref(static_cast<size_t>(c.B) * std::max(k, 1));
  SparseMlpUpArgs a;
  a.h = ref.data();
  a.x = x;
  a.w1 = w;
  a.b1 = bias;
  a.idx = idx.data();
  a.k_dev = &k;
  a.B = c.B;
  a.d = c.K;
  a.ffn = c.n;
  a.max_k = k;
  a.ld_h = std::max(k, 1);
  sparse_mlp_up_ref(a);
  std::vector<float> g, rf;
  for (int b = 0; b < c.B; ++b)
    for (int j = 0; j < k; ++j) {
      g.push_back(__half2float(got[static_cast<size_t>(b) * ld_out + (compact ? j : idx[j])]));
      rf.push_back(__half2float(ref[static_cast<size_t>(b) * a.ld_h + j]));
    }
  if (!g.empty()) {
    EXPECT_TRUE(test::expect_close(g, rf, DType::kF16, "row_gemv h"));
  }
}

// Outputs at the rows (compact false) or at the entries (compact: sparse_mlp_up's own layout).
TEST(PersistentOps, RowGemvHalfMatchesSparseMlpUpReference) {
  DV_SKIP_WITHOUT_GPU();
  for (int ci = 0; ci < 2 * static_cast<int>(std::size(kGemvCases)); ++ci) {
    const GemvCase c = kGemvCases[ci / 2];
    const bool compact = ci % 2 == 1;
    std::mt19937_64 rng(test::case_seed("row_gemv_op", ci / 2));
    SCOPED_TRACE(::testing::Message() << "case " << ci / 2 << (compact ? " compact" : ""));
    const bool gathered = c.k >= 0;
    const int k = gathered ? c.k : c.n, max_k = gathered ? c.max_k : c.n;
    const auto x = test::random_halves(static_cast<size_t>(c.B) * c.K, rng);
    const auto w = test::random_halves(static_cast<size_t>(c.n) * c.K, rng);
    const auto bias = test::random_halves(static_cast<size_t>(c.n), rng);
    std::vector<int> idx = gathered ? make_idx(c.n, k, max_k, rng) : std::vector<int>(c.n);
    if (!gathered) std::iota(idx.begin(), idx.end(), 0);
    const int ld_out = compact ? std::max(max_k, 1) : c.n;
    DeviceBuffer<__half> dx(x.h), dw(w.h), db(bias.h), dout(static_cast<size_t>(c.B) * ld_out);
    DeviceBuffer<int> didx(idx), dk(std::vector<int>{k});
    dout.poison();
    const RowGemvOp r = up_op<RowGemvOp>(c, max_k, dw.data(), dx.data(), gathered ? didx.data() : nullptr,
                                         gathered ? dk.data() : nullptr, db.data(), dout.data(), ld_out, compact);
    launch_decode_op(DecodeOpKind::kRowGemv, r, nullptr);
    expect_up_ref(c, k, idx, x.h.data(), w.h.data(), bias.h.data(), dout.download(), ld_out, compact);
  }
}

// row_gemv_ln (the MLP layer norm folded into the up projection): layer_norm_ref of the residual stream, then
// sparse_mlp_up_ref on the normalized rows; compact outputs, the split MLP's layout.
TEST(PersistentOps, RowGemvLnMatchesLayerNormThenSparseMlpUpReference) {
  DV_SKIP_WITHOUT_GPU();
  for (int ci = 0; ci < static_cast<int>(std::size(kGemvCases)); ++ci) {
    const GemvCase c = kGemvCases[ci];
    std::mt19937_64 rng(test::case_seed("row_gemv_ln_op", ci));
    SCOPED_TRACE(::testing::Message() << "case " << ci);
    const bool gathered = c.k >= 0;
    const int k = gathered ? c.k : c.n, max_k = gathered ? c.max_k : c.n;
    const auto x = test::random_halves(static_cast<size_t>(c.B) * c.K, rng, -3.f, 3.f);
    const auto w = test::random_halves(static_cast<size_t>(c.n) * c.K, rng);
    const auto bias = test::random_halves(static_cast<size_t>(c.n), rng);
    const auto gamma = test::random_halves(c.K, rng), beta = test::random_halves(c.K, rng);
    std::vector<int> idx = gathered ? make_idx(c.n, k, max_k, rng) : std::vector<int>(c.n);
    if (!gathered) std::iota(idx.begin(), idx.end(), 0);
    const int ld_out = std::max(max_k, 1);
    DeviceBuffer<__half> dx(x.h), dw(w.h), db(bias.h), dg(gamma.h), dbeta(beta.h);
    DeviceBuffer<__half> dout(static_cast<size_t>(c.B) * ld_out);
    DeviceBuffer<int> didx(idx), dk(std::vector<int>{k});
    dout.poison();
    RowGemvLnOp r = up_op<RowGemvLnOp>(c, max_k, dw.data(), dx.data(), gathered ? didx.data() : nullptr,
                                       gathered ? dk.data() : nullptr, db.data(), dout.data(), ld_out, true);
    r.ln_gamma = dg.data();
    r.ln_beta = dbeta.data();
    launch_decode_op(DecodeOpKind::kRowGemvLn, r, nullptr);

    std::vector<__half> normed(x.h.size());
    LayerNormArgs ln;
    ln.y = normed.data();
    ln.x = x.h.data();
    ln.gamma = gamma.h.data();
    ln.beta = beta.h.data();
    ln.rows = c.B;
    ln.d = c.K;
    layer_norm_ref(ln);
    expect_up_ref(c, k, idx, normed.data(), w.h.data(), bias.h.data(), dout.download(), ld_out, true);
  }
  // The plain op refuses a layer norm it would not apply.
  RowGemvOp plain;
  DeviceBuffer<__half> buf(64);
  plain.w = plain.x = buf.data();
  plain.B = 1;
  plain.K = plain.ldx = 8;
  plain.out = buf.data();
  plain.ld_out = 8;
  plain.ln_gamma = plain.ln_beta = buf.data();
  EXPECT_THROW(check_decode_op(DecodeOpKind::kRowGemv, plain), Error);
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
    RowGemvOp r;
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
    launch_decode_op(DecodeOpKind::kRowGemv, r, nullptr);
    ArgmaxOp a;
    a.tokens = dtok.data();
    a.argmax = dmax.data();
    a.B = c.B;
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
    LayerNormOp o;
    o.y = dy.data();
    o.sum_out = c.sum_out ? dsum.data() : nullptr;
    o.x = dx.data();
    o.residual = c.residual ? dres.data() : nullptr;
    o.bias = c.bias ? dbias.data() : nullptr;
    o.gamma = dg.data();
    o.beta = dbeta.data();
    o.B = c.B;
    o.d = c.d;
    launch_decode_op(DecodeOpKind::kLayerNorm, o, nullptr);
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
