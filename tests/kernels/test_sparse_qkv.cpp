// test_sparse_qkv.cpp: the selected-head QKV op and the forced K/V catch-up over sequences of decode steps
// (sparse_qkv_driver.h checks every step against the contract's model and the dense projection). Cases: random
// selections with the full input history, the 128-position ring with the catch-up plan (forced heads), a head
// re-selected after lags 0 / 31 / 127 / 2047, K/V of all heads (all_kv), a ring too short without forcing
// (positions lost and counted), batch 1..32, head_dim 16..128, graph replay, and the attention layer norm
// fused into the op (raw residual rows in, the normalized rows in x_hist). The key property: after any
// sequence of selections every position below a head's kv_valid holds the dense K/V (unless counted lost),
// positions at or above it were never written, and unselected heads' q rows are untouched. The catch-up fork's
// captured edges under PDL are tested in test_pdl_joins.cpp.
#include <gtest/gtest.h>

#include <vector>

#include "tests/kernels/sparse_qkv_driver.h"

namespace dv {
namespace {

using test::DType;
using test::KvMode;
using test::QkvCase;
using test::QkvVariant;

// {batch, heads, steps, max_len, gap, graph, hd, mode, ring, dense}
// Every case's d = heads x hd is a multiple of 32, as the op requires (the GPU run of 340f1ff threw on 48 and 400).
const std::vector<QkvCase> kCases = {
    {1, 1, 17, 20, 0, false, 64, KvMode::kFullHistory, 0, false},
    {3, 5, 40, 45, 3, false, 64, KvMode::kFullHistory, 0, false},
    {8, 3, 17, 17, 0, true, 64, KvMode::kFullHistory, 0, false},
    {32, 12, 6, 8, 0, false, 64, KvMode::kFullHistory, 0, false},
    {2, 12, 130, 130, 0, true, 64, KvMode::kFullHistory, 0, false},
    {5, 12, 33, 40, 0, false, 64, KvMode::kFullHistory, 0, true},
    {2, 32, 4, 5, 0, false, 64, KvMode::kFullHistory, 0, false},
    {3, 3, 24, 24, 5, false, 128, KvMode::kFullHistory, 0, false},
    {1, 8, 9, 12, 0, true, 128, KvMode::kFullHistory, 0, false},
    {9, 2, 7, 7, 0, false, 80, KvMode::kFullHistory, 0, false},
    {1, 5, 3, 3, 0, false, 128, KvMode::kFullHistory, 0, true},
    {3, 16, 20, 24, 0, false, 16, KvMode::kFullHistory, 0, false},
    {2, 6, 17, 17, 4, true, 16, KvMode::kFullHistory, 0, false},
    {4, 8, 30, 33, 0, false, 32, KvMode::kFullHistory, 0, false},
    {1, 1, 9, 9, 0, false, 32, KvMode::kFullHistory, 0, true},
    {5, 2, 12, 12, 0, true, 16, KvMode::kFullHistory, 0, false},
    // The ring and the catch-up plan: lags 0 / 31 / 127 / 2047 of head 0, odd batches, every head_dim.
    {1, 2, 40, 40, 1, false, 64, KvMode::kForced, kSparseQkvRing, false},
    {1, 4, 100, 101, 31, true, 32, KvMode::kForced, kSparseQkvRing, false},
    {1, 4, 300, 300, 127, false, 16, KvMode::kForced, kSparseQkvRing, false},
    {1, 2, 2100, 2100, 2047, true, 16, KvMode::kForced, kSparseQkvRing, false},
    {2, 4, 200, 210, 127, false, 80, KvMode::kForced, kSparseQkvRing, false},
    {3, 40, 70, 70, 31, false, 16, KvMode::kForced, kSparseQkvRing, false},
    {8, 3, 60, 64, 9, true, 128, KvMode::kForced, kSparseQkvRing, false},
    {7, 4, 50, 50, 0, false, 64, KvMode::kForced, 24, false},
    {1, 12, 200, 200, -1, false, 16, KvMode::kForced, 24, false},
    {2, 9, 90, 96, -1, true, 32, KvMode::kForced, 40, false},
    // K/V of every head; a short ring without forcing loses positions (counted, never written).
    {4, 6, 20, 22, 0, false, 64, KvMode::kAllKv, 0, false},
    {8, 3, 9, 9, 2, true, 128, KvMode::kAllKv, 0, false},
    {1, 3, 40, 40, 15, false, 32, KvMode::kRing, 6, false},
    // The fused layer norm: full history, the ring with forced catch-up at lags 31 / 127, all_kv, dense.
    {1, 4, 20, 20, 0, false, 64, KvMode::kFullHistory, 0, false, true},
    {3, 5, 140, 140, 31, true, 128, KvMode::kForced, kSparseQkvRing, false, true},
    {2, 6, 300, 300, 127, false, 16, KvMode::kForced, kSparseQkvRing, false, true},
    {8, 4, 9, 9, 2, false, 80, KvMode::kAllKv, 0, false, true},
    {5, 12, 12, 12, 0, true, 64, KvMode::kFullHistory, 0, true, true},
    // ... with the statistics from x's row partials (ln_row_partials): one slice (d 256), two uneven slices
    // (d 640, 768: 512 + 128 / 256) with catch-up and a graph, all_kv at d 320, batch 17 at d 576.
    {1, 4, 20, 20, 0, false, 64, KvMode::kFullHistory, 0, false, true, QkvVariant::kDefault, true},
    {3, 5, 140, 140, 31, true, 128, KvMode::kForced, kSparseQkvRing, false, true, QkvVariant::kDefault, true},
    {8, 4, 9, 9, 2, false, 80, KvMode::kAllKv, 0, false, true, QkvVariant::kDefault, true},
    {5, 12, 12, 12, 0, true, 64, KvMode::kFullHistory, 0, true, true, QkvVariant::kDefault, true},
    {17, 9, 6, 6, 0, false, 64, KvMode::kFullHistory, 0, false, true, QkvVariant::kDefault, true},
    // The A/B variants (kernel_bench's sparse_qkv rows): plain steps, catch-up passes of every width, the ring
    // with forced heads, all_kv and the fused layer norm; VariantsWriteTheDefaultsBits compares them bit for bit.
    {3, 5, 40, 45, 3, false, 64, KvMode::kFullHistory, 0, false, false, QkvVariant::kNoPrefetch},
    {1, 4, 100, 101, 31, true, 32, KvMode::kForced, kSparseQkvRing, false, true, QkvVariant::kNoPrefetch},
    {1, 8, 9, 12, 0, true, 128, KvMode::kFullHistory, 0, false, false, QkvVariant::kUnroll8},
    {5, 12, 33, 40, 0, false, 64, KvMode::kFullHistory, 0, true, true, QkvVariant::kUnroll8},
    {3, 40, 70, 70, 31, false, 16, KvMode::kForced, kSparseQkvRing, false, false, QkvVariant::kUnroll8},
    {8, 4, 17, 17, 0, false, 80, KvMode::kFullHistory, 0, false, false, QkvVariant::kUnroll8},
    {2, 12, 130, 130, 0, true, 64, KvMode::kFullHistory, 0, false, false, QkvVariant::kThreePerSm},
    {3, 5, 140, 140, 31, true, 128, KvMode::kForced, kSparseQkvRing, false, true, QkvVariant::kThreePerSm},
    {8, 3, 9, 9, 2, false, 128, KvMode::kAllKv, 0, false, false, QkvVariant::kThreePerSm},
    // The pipelined plain pass and the unit loop (2 CTAs): B = 1, 3, 8, odd head counts, widths from 64 (warps
    // without chunks) to 5 x 128, catch-up passes between plain ones (gap, forced), all_kv, the fused layer norm.
    {1, 5, 40, 40, 3, false, 128, KvMode::kFullHistory, 0, false, false, QkvVariant::kPipelined},
    {3, 7, 70, 70, 31, true, 64, KvMode::kForced, kSparseQkvRing, false, true, QkvVariant::kPipelined},
    {8, 4, 9, 9, 2, false, 80, KvMode::kAllKv, 0, false, false, QkvVariant::kPipelined},
    {1, 1, 17, 20, 0, false, 64, KvMode::kFullHistory, 0, false, false, QkvVariant::kPipelined},
    {8, 4, 17, 17, 0, true, 32, KvMode::kFullHistory, 0, true, false, QkvVariant::kPipelined},
    {1, 5, 40, 40, 3, true, 128, KvMode::kFullHistory, 0, false, false, QkvVariant::kLoopUnits},
    {3, 7, 70, 70, 31, false, 64, KvMode::kForced, kSparseQkvRing, false, true, QkvVariant::kLoopUnits},
    {8, 4, 9, 9, 2, true, 80, KvMode::kAllKv, 0, false, false, QkvVariant::kLoopUnits},
    {1, 5, 40, 40, 3, false, 128, KvMode::kFullHistory, 0, false, false, QkvVariant::kPipelinedLoop},
    {3, 7, 70, 70, 31, true, 64, KvMode::kForced, kSparseQkvRing, false, true, QkvVariant::kPipelinedLoop},
    {8, 4, 9, 9, 2, false, 80, KvMode::kAllKv, 0, false, true, QkvVariant::kPipelinedLoop},
    {1, 12, 200, 200, -1, true, 16, KvMode::kForced, 24, false, false, QkvVariant::kPipelinedLoop},
    {8, 4, 17, 17, 0, false, 32, KvMode::kFullHistory, 0, true, true, QkvVariant::kPipelinedLoop},
    {1, 1, 17, 20, 0, true, 64, KvMode::kFullHistory, 0, false, false, QkvVariant::kPipelinedLoop},
    // The tiled weight layout: plain steps at B = 1 and 8, catch-up passes of every width (gap 31, forced heads
    // through kv_catchup), all_kv, the fused layer norm, head_dim 16 to 128, widths from 64 to 12 x 64.
    {1, 5, 40, 40, 3, false, 128, KvMode::kFullHistory, 0, false, false, QkvVariant::kTiled},
    {3, 7, 70, 70, 31, true, 64, KvMode::kForced, kSparseQkvRing, false, true, QkvVariant::kTiled},
    {8, 4, 9, 9, 2, false, 80, KvMode::kAllKv, 0, false, false, QkvVariant::kTiled},
    {1, 12, 200, 200, -1, true, 16, KvMode::kForced, 24, false, false, QkvVariant::kTiled},
    {5, 12, 33, 40, 0, false, 64, KvMode::kFullHistory, 0, true, true, QkvVariant::kTiled},
    {2, 6, 300, 300, 127, false, 16, KvMode::kForced, kSparseQkvRing, false, true, QkvVariant::kTiled},
    {1, 1, 17, 20, 0, false, 64, KvMode::kFullHistory, 0, false, false, QkvVariant::kTiled},
    // The persistent kernel's entries (launch_decode_op: the qkv and kv_catchup kinds, and their tiled kinds):
    // catch-up at lags 31 / 127, forced heads queueing on a short ring, all_kv, the fused layer norm, B 1..8.
    {3, 7, 70, 70, 31, true, 64, KvMode::kForced, kSparseQkvRing, false, true, QkvVariant::kPersistentOp},
    {8, 4, 9, 9, 2, false, 80, KvMode::kAllKv, 0, false, false, QkvVariant::kPersistentOp},
    {1, 12, 200, 200, -1, true, 16, KvMode::kForced, 24, false, false, QkvVariant::kPersistentOp},
    {5, 12, 33, 40, 0, false, 64, KvMode::kFullHistory, 0, true, true, QkvVariant::kPersistentOp},
    {3, 7, 70, 70, 31, true, 64, KvMode::kForced, kSparseQkvRing, false, true, QkvVariant::kPersistentOpTiled},
    {8, 4, 9, 9, 2, false, 80, KvMode::kAllKv, 0, false, false, QkvVariant::kPersistentOpTiled},
    {1, 12, 200, 200, -1, true, 16, KvMode::kForced, 24, false, false, QkvVariant::kPersistentOpTiled},
    {2, 6, 300, 300, 127, false, 16, KvMode::kForced, kSparseQkvRing, false, true, QkvVariant::kPersistentOpTiled},
    {1, 1, 17, 20, 0, false, 64, KvMode::kFullHistory, 0, false, false, QkvVariant::kPersistentOpTiled},
};

// On the CPU too, so a case the op refuses fails here and not only on a GPU (the GPU run of 6800122 threw on
// d = 240, the third time a case table held such a width).
TEST(SparseQkvCases, EveryWidthIsOneTheOpTakes) {
  for (size_t ci = 0; ci < kCases.size(); ++ci) {
    const int d = kCases[ci].heads * kCases[ci].hd;
    EXPECT_EQ(d % 32, 0) << "case " << ci << ": d = " << kCases[ci].heads << " x " << kCases[ci].hd << " = " << d;
  }
}

void check_cache(const QkvCase& c, const test::QkvProblem& p, const test::QkvModel& m, test::QkvBackend& be) {
  const int hd = c.hd;
  for (int part = 1; part <= 2; ++part) {
    const std::vector<__half> cache = part == 1 ? be.k() : be.v();
    std::vector<__half> got;
    std::vector<float> ref;
    for (int b = 0; b < c.batch; ++b)
      for (int h = 0; h < c.heads; ++h)
        for (int tt = 0; tt < c.max_len; ++tt)
          for (int r = 0; r < hd; ++r) {
            const __half g = cache[((static_cast<size_t>(b) * c.heads + h) * c.max_len + tt) * hd + r];
            if (tt >= m.valid[h] || m.is_lost(h, tt)) {
              ASSERT_TRUE(test::qkv_poison(g)) << "cache row never due written: part " << part << " h " << h << " t " << tt;
              continue;
            }
            got.push_back(g);
            ref.push_back(p.truth(tt, b, h, part, r));
          }
    if (!got.empty()) {
      ASSERT_TRUE(test::expect_close(got, ref, DType::kF16, part == 1 ? "K cache" : "V cache"));
    }
  }
}

void check_x_hist(const QkvCase& c, const test::QkvProblem& p, const SparseQkvArgs& a, int t, test::QkvBackend& be) {
  if (a.ring == 0) return;
  const std::vector<__half> xh = be.x_hist();
  const size_t d = p.d;
  std::vector<__half> normed;  // the fused layer norm's rows: fp32 statistics, within fp16 of layer_norm_ref
  std::vector<float> normed_ref;
  for (int b = 0; b < c.batch; ++b)
    for (int row = 0; row < a.ring; ++row) {
      const int tt = t - ((t - row) % a.ring + a.ring) % a.ring;  // newest position stored at this row
      for (size_t i = 0; i < d; i += 7) {
        const __half g = xh[(static_cast<size_t>(b) * a.ring + row) * d + i];
        if (tt < 0) {
          ASSERT_TRUE(test::qkv_poison(g)) << "x_hist row " << row << " written early";
        } else if (c.ln) {
          normed.push_back(g);
          normed_ref.push_back(__half2float(p.x[tt][b * d + i]));
        } else {
          ASSERT_EQ(__half_raw(g).x, __half_raw(p.x[tt][b * d + i]).x) << "x_hist b=" << b << " t=" << tt;
        }
      }
    }
  if (!normed.empty()) {
    ASSERT_TRUE(test::expect_close(normed, normed_ref, DType::kF16, "x_hist (normalized)"));
  }
}

// Drives one case through `be`, checking kv_valid, the counters and the lag bound every step, q every step,
// the x_hist ring and the whole cache on small cases every step and on the others every 64 steps and last.
void run_case(const QkvCase& c, const test::QkvProblem& p, const std::vector<std::vector<int>>& sel,
              test::QkvBackend& be, std::mt19937_64& rng) {
  const SparseQkvArgs a = test::case_args(c);
  const int hd = c.hd, slots = sparse_qkv_valid_slots(hd);
  test::QkvModel m;
  m.valid.assign(c.heads, 0);
  m.lost.assign(c.heads, {});
  const bool small = static_cast<size_t>(c.batch) * c.heads * c.max_len * hd <= (1u << 16);
  const int bound = a.max_forced > 0 ? a.force_lag + (c.heads + a.max_forced - 1) / a.max_forced - 1 : 0;
  for (int t = 0; t < c.steps; ++t) {
    SCOPED_TRACE("step " + std::to_string(t));
    std::vector<int> padded = sel[t];
    while (static_cast<int>(padded.size()) < c.heads) padded.push_back(static_cast<int>(rng() % c.heads));
    be.step(padded, static_cast<int>(sel[t].size()), t, p.input(t));
    m.step(c, a, sel[t], t);
    std::vector<int> want(static_cast<size_t>(c.heads) * slots);
    for (int h = 0; h < c.heads; ++h) std::fill(want.begin() + h * slots, want.begin() + (h + 1) * slots, m.valid[h]);
    ASSERT_EQ(be.valid(), want);
    std::vector<int> unique = sel[t];
    std::sort(unique.begin(), unique.end());
    if (std::unique(unique.begin(), unique.end()) == unique.end()) {  // duplicates may count twice
      const std::vector<int> counts = be.counts();
      for (int i = 0; i < 3; ++i) ASSERT_EQ(counts[3 * t + i], m.counts[i]) << "catch-up counter " << i;
    }
    for (int h = 0; h < c.heads && a.max_forced > 0; ++h)
      ASSERT_LE(t + 1 - m.valid[h], bound) << "head " << h << " lags past the plan's bound";

    std::vector<bool> chosen(c.heads, false);
    for (int h : sel[t]) chosen[h] = true;
    const std::vector<__half> q = be.q();
    std::vector<__half> q_got;
    std::vector<float> q_ref;
    for (int b = 0; b < c.batch; ++b)
      for (int h = 0; h < c.heads; ++h)
        for (int r = 0; r < hd; ++r) {
          const __half g = q[(static_cast<size_t>(b) * c.heads + h) * hd + r];
          if (!chosen[h]) {
            ASSERT_TRUE(test::qkv_poison(g)) << "q of unselected head " << h << " written";
            continue;
          }
          q_got.push_back(g);
          q_ref.push_back(p.truth(t, b, h, 0, r));
        }
    if (!q_got.empty()) {
      ASSERT_TRUE(test::expect_close(q_got, q_ref, DType::kF16, "q"));
    }
    if (!small && t % 64 != 63 && t != c.steps - 1) continue;
    check_x_hist(c, p, a, t, be);
    check_cache(c, p, m, be);
  }
  // The last step selected every head: the whole cache [0, steps) is now the dense cache (less lost rows).
  for (int v : be.valid()) ASSERT_EQ(v, c.steps);
}

TEST(SparseQkvKernel, CacheEqualsDenseAfterRandomSelections) {
  DV_SKIP_WITHOUT_GPU();
  for (size_t ci = 0; ci < kCases.size(); ++ci) {
    const QkvCase& c = kCases[ci];
    SCOPED_TRACE(test::describe(c));
    std::mt19937_64 rng(test::case_seed("sparse_qkv", static_cast<int>(ci)));
    const test::QkvProblem p = test::make_qkv_problem(c, rng);
    const auto sel = test::make_qkv_selections(c, rng);
    test::QkvGpuBackend be(c, p);
    run_case(c, p, sel, be, rng);
    if (HasFatalFailure()) return;
  }
}

bool persistent_entry(QkvVariant v) { return v == QkvVariant::kPersistentOp || v == QkvVariant::kPersistentOpTiled; }

// Every A/B variant (persistent: the persistent kernel's entries, or the graph path's other launches) writes what
// the default launch writes, bit for bit (q, the K/V caches, x_hist, kv_valid), step after step over the same
// selections. Two tests so that compute-sanitizer's racecheck can take the persistent entries alone
// (scripts/device/step_decode.sh's qkv_persistent group).
void expect_variants_write_the_defaults_bits(bool persistent) {
  for (size_t ci = 0; ci < kCases.size(); ++ci) {
    const QkvCase& c = kCases[ci];
    if (c.variant == QkvVariant::kDefault || persistent_entry(c.variant) != persistent) continue;
    SCOPED_TRACE(test::describe(c));
    QkvCase base = c;
    base.variant = QkvVariant::kDefault;
    std::mt19937_64 rng(test::case_seed("sparse_qkv_variant", static_cast<int>(ci)));
    const test::QkvProblem p = test::make_qkv_problem(c, rng);
    const auto sel = test::make_qkv_selections(c, rng);
    test::QkvGpuBackend be(c, p), ref(base, p);
    auto bits = [](const std::vector<__half>& v) {
      std::vector<unsigned short> b(v.size());
      for (size_t i = 0; i < v.size(); ++i) b[i] = __half_raw(v[i]).x;
      return b;
    };
    for (int t = 0; t < c.steps; ++t) {
      SCOPED_TRACE("step " + std::to_string(t));
      std::vector<int> padded = sel[t];
      while (static_cast<int>(padded.size()) < c.heads) padded.push_back(static_cast<int>(rng() % c.heads));
      be.step(padded, static_cast<int>(sel[t].size()), t, p.input(t));
      ref.step(padded, static_cast<int>(sel[t].size()), t, p.input(t));
      ASSERT_EQ(bits(be.q()), bits(ref.q()));
      ASSERT_EQ(be.valid(), ref.valid());
      if (t % 16 != 15 && t != c.steps - 1) continue;
      ASSERT_EQ(bits(be.k()), bits(ref.k()));
      ASSERT_EQ(bits(be.v()), bits(ref.v()));
      ASSERT_EQ(bits(be.x_hist()), bits(ref.x_hist()));
    }
  }
}

TEST(SparseQkvKernel, VariantsWriteTheDefaultsBits) {
  DV_SKIP_WITHOUT_GPU();
  expect_variants_write_the_defaults_bits(false);
}

TEST(SparseQkvKernel, PersistentEntriesWriteTheDefaultsBits) {
  DV_SKIP_WITHOUT_GPU();
  expect_variants_write_the_defaults_bits(true);
}

// The reference obeys the same contract (runs without a GPU; the small cases keep it quick).
TEST(SparseQkvRef, CacheEqualsDenseAfterRandomSelections) {
  for (size_t ci : {0, 1, 2, 7, 9, 16, 18, 23, 24, 25, 26, 28, 29, 32}) {
    QkvCase c = kCases[ci];
    c.graph = false;
    SCOPED_TRACE(test::describe(c));
    std::mt19937_64 rng(test::case_seed("sparse_qkv_ref", static_cast<int>(ci)));
    const test::QkvProblem p = test::make_qkv_problem(c, rng);
    const auto sel = test::make_qkv_selections(c, rng);
    test::QkvRefBackend be(c, p);
    run_case(c, p, sel, be, rng);
    if (HasFatalFailure()) return;
  }
}

// After a dense prefill marks T positions valid (launch_kv_valid_fill), a step at pos T computes only
// position T: the prefilled positions are left as the prefill wrote them (here: still poisoned).
TEST(SparseQkvKernel, ValidFillSkipsPrefilledPositions) {
  DV_SKIP_WITHOUT_GPU();
  const QkvCase c{2, 3, 6, 8, 0, false, 128, KvMode::kForced, kSparseQkvRing, true};
  std::mt19937_64 rng(test::case_seed("sparse_qkv_fill", 0));
  const test::QkvProblem p = test::make_qkv_problem(c, rng);
  test::QkvGpuBackend be(c, p);
  const int pos = c.steps - 1;
  be.fill_valid(pos);
  std::vector<int> all(c.heads);
  std::iota(all.begin(), all.end(), 0);
  be.step(all, c.heads, pos, p.x[pos]);
  for (int v : be.valid()) ASSERT_EQ(v, pos + 1);
  const std::vector<__half> k = be.k();
  std::vector<__half> got;
  std::vector<float> ref;
  for (int b = 0; b < c.batch; ++b)
    for (int h = 0; h < c.heads; ++h)
      for (int tt = 0; tt < c.max_len; ++tt)
        for (int r = 0; r < c.hd; ++r) {
          const __half g = k[((static_cast<size_t>(b) * c.heads + h) * c.max_len + tt) * c.hd + r];
          if (tt != pos) {
            ASSERT_TRUE(test::qkv_poison(g)) << "position " << tt << " recomputed or written";
            continue;
          }
          got.push_back(g);
          ref.push_back(p.truth(pos, b, h, 1, r));
        }
  ASSERT_TRUE(test::expect_close(got, ref, DType::kF16, "K at pos"));
}

}  // namespace
}  // namespace dv
