// test_sparse_qkv.cpp: the selected-head QKV kernel over sequences of decode steps with random head
// selections. The key property: after any sequence of selections, every head's K/V positions below its
// kv_valid count equal the dense projection of the same inputs (computed here from Hugging Face's separate
// q/k/v_proj layout, so pack_qkv_weights is checked too), positions at or above it were never written, and
// unselected heads' q rows are untouched. The same driver runs the plain C++ reference without a GPU and
// the kernel (optionally replayed from one captured CUDA graph) with one.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <string>
#include <vector>

#include "kernels/sparse_qkv/sparse_qkv.cuh"
#include "kernels/sparse_qkv/sparse_qkv_pack.h"
#include "kernels/sparse_qkv/sparse_qkv_ref.h"
#include "tests/kernels/kernel_test_util.h"

namespace dv {
namespace {

using test::DeviceBuffer;
using test::DType;
constexpr __half_raw kPoison{0xFFFFu};

enum class Pattern { kRandom, kLongGap, kDense };

struct QkvCase {
  int batch;
  int heads;
  int steps;
  int max_len;
  Pattern pattern;
  bool graph;  // GPU only: capture one launch, replay it every step
  int hd;      // head_dim
};

const std::vector<QkvCase> kCases = {
    {1, 1, 17, 20, Pattern::kRandom, false, 64},   {3, 5, 40, 45, Pattern::kLongGap, false, 64},
    {8, 3, 17, 17, Pattern::kRandom, true, 64},    {32, 12, 6, 8, Pattern::kRandom, false, 64},
    {2, 12, 130, 130, Pattern::kRandom, true, 64}, {5, 12, 33, 40, Pattern::kDense, false, 64},
    {2, 32, 4, 5, Pattern::kRandom, false, 64},    {3, 3, 24, 24, Pattern::kLongGap, false, 128},
    {1, 8, 9, 12, Pattern::kRandom, true, 128},    {9, 2, 7, 7, Pattern::kRandom, false, 80},
    {1, 5, 3, 3, Pattern::kDense, false, 128},     {3, 16, 20, 24, Pattern::kRandom, false, 16},
    {2, 6, 17, 17, Pattern::kLongGap, true, 16},   {4, 8, 30, 33, Pattern::kRandom, false, 32},
    {1, 1, 9, 9, Pattern::kDense, false, 32},      {5, 2, 12, 12, Pattern::kRandom, true, 16},
};

std::string describe(const QkvCase& c) {
  return "B=" + std::to_string(c.batch) + " H=" + std::to_string(c.heads) + " steps=" + std::to_string(c.steps) +
         " max_len=" + std::to_string(c.max_len) + " pattern=" + std::to_string(static_cast<int>(c.pattern)) +
         " graph=" + std::to_string(c.graph) + " hd=" + std::to_string(c.hd);
}

bool is_poison(__half h) { return __half_raw(h).x == kPoison.x; }

// Inputs of one case: packed weights, per-step inputs and the dense truth q/k/v [steps][B][H][3][hd].
struct Problem {
  int d = 0;
  int hd = 0;
  // Dense truth of part (0 q, 1 k, 2 v), row r of head h for batch row b at step t.
  float truth(const QkvCase& c, int t, int b, int h, int part, int r) const {
    return dense[(((static_cast<size_t>(t) * c.batch + b) * c.heads + h) * 3 + part) * hd + r];
  }
  std::vector<__half> w_qkv, b_qkv;
  std::vector<std::vector<__half>> x;  // [steps][B * d]
  std::vector<float> dense;
};

Problem make_problem(const QkvCase& c, std::mt19937_64& rng) {
  Problem p;
  p.hd = c.hd;
  p.d = c.heads * c.hd;
  const size_t d = p.d;
  const float a = 2.f / std::sqrt(static_cast<float>(d));
  std::vector<test::HalfData> w, b;
  for (int i = 0; i < 3; ++i) {
    w.push_back(test::random_halves(d * d, rng, -a, a));
    b.push_back(test::random_halves(d, rng, -0.5f, 0.5f));
  }
  p.w_qkv.resize(3 * d * d);
  p.b_qkv.resize(3 * d);
  pack_qkv_weights({p.w_qkv.data(), p.b_qkv.data(), w[0].h.data(), w[1].h.data(), w[2].h.data(), b[0].h.data(),
                    b[1].h.data(), b[2].h.data(), c.heads, c.hd});
  p.dense.resize(static_cast<size_t>(c.steps) * c.batch * 3 * d);
  for (int t = 0; t < c.steps; ++t) {
    p.x.push_back(test::random_halves(c.batch * d, rng).h);
    for (int bt = 0; bt < c.batch; ++bt)
      for (int part = 0; part < 3; ++part)
        for (size_t o = 0; o < d; ++o) {  // HF output feature o = head o / 64, dim o % 64
          double acc = b[part].f[o];
          const float* wr = w[part].f.data() + o * d;
          const __half* xv = p.x[t].data() + bt * d;
          for (size_t i = 0; i < d; ++i) acc += static_cast<double>(wr[i]) * __half2float(xv[i]);
          const size_t h = o / c.hd, r = o % c.hd;
          p.dense[(((static_cast<size_t>(t) * c.batch + bt) * c.heads + h) * 3 + part) * c.hd + r] =
              static_cast<float>(acc);
        }
  }
  return p;
}

// Heads selected at each step; the last step selects every head so the whole cache becomes checkable.
std::vector<std::vector<int>> make_selections(const QkvCase& c, std::mt19937_64& rng) {
  std::vector<std::vector<int>> sel(c.steps);
  for (int t = 0; t < c.steps; ++t) {
    if (c.pattern == Pattern::kDense || t == c.steps - 1) {
      sel[t].resize(c.heads);
      std::iota(sel[t].begin(), sel[t].end(), 0);
      if (t == c.steps - 1 && c.pattern != Pattern::kDense) std::shuffle(sel[t].begin(), sel[t].end(), rng);
      continue;
    }
    const int choice = static_cast<int>(rng() % 5);
    const int k = choice == 0 ? 0 : choice == 1 ? 1 : choice == 2 ? c.heads : static_cast<int>(rng() % (c.heads + 1));
    sel[t] = test::random_indices(c.heads, k, rng);
    if (c.pattern == Pattern::kLongGap && t > 0)
      sel[t].erase(std::remove(sel[t].begin(), sel[t].end(), 0), sel[t].end());
    if (choice == 4 && !sel[t].empty() && static_cast<int>(sel[t].size()) < c.heads)
      sel[t].push_back(sel[t].front());  // a duplicate entry is legal
  }
  return sel;
}

// One implementation under test: the kernel or the reference, with host-visible state after each step.
class QkvBackend {
 public:
  virtual ~QkvBackend() = default;
  virtual void step(const std::vector<int>& heads_padded, int count, int pos, const std::vector<__half>& x) = 0;
  virtual std::vector<__half> q() = 0;
  virtual std::vector<__half> k() = 0;
  virtual std::vector<__half> v() = 0;
  virtual std::vector<__half> x_hist() = 0;
  virtual std::vector<int> valid() = 0;
};

class RefBackend : public QkvBackend {
 public:
  RefBackend(const QkvCase& c, const Problem& p) : c_(c), p_(p) {
    const size_t cache = static_cast<size_t>(c.batch) * c.heads * c.max_len * c.hd;
    q_.assign(static_cast<size_t>(c.batch) * c.heads * c.hd, __half(kPoison));
    k_.assign(cache, __half(kPoison));
    v_.assign(cache, __half(kPoison));
    xh_.assign(static_cast<size_t>(c.batch) * c.max_len * p.d, __half(kPoison));
    valid_.assign(static_cast<size_t>(c.heads) * sparse_qkv_valid_slots(c.hd), 0);
  }
  void step(const std::vector<int>& heads, int count, int pos, const std::vector<__half>& x) override {
    std::fill(q_.begin(), q_.end(), __half(kPoison));
    SparseQkvArgs a{q_.data(),       k_.data(),       v_.data(),    xh_.data(), valid_.data(), x.data(),
                    p_.w_qkv.data(), p_.b_qkv.data(), heads.data(), &count,     &pos,          c_.batch,
                    c_.heads,        c_.hd,           c_.max_len,   c_.heads};
    sparse_qkv_ref(a);
  }
  std::vector<__half> q() override { return q_; }
  std::vector<__half> k() override { return k_; }
  std::vector<__half> v() override { return v_; }
  std::vector<__half> x_hist() override { return xh_; }
  std::vector<int> valid() override { return valid_; }

 private:
  const QkvCase& c_;
  const Problem& p_;
  std::vector<__half> q_, k_, v_, xh_;
  std::vector<int> valid_;
};

class GpuBackend : public QkvBackend {
 public:
  GpuBackend(const QkvCase& c, const Problem& p)
      : w_(p.w_qkv),
        b_(p.b_qkv),
        x_(static_cast<size_t>(c.batch) * p.d),
        q_(static_cast<size_t>(c.batch) * c.heads * c.hd),
        k_(static_cast<size_t>(c.batch) * c.heads * c.max_len * c.hd),
        v_(k_.size()),
        xh_(static_cast<size_t>(c.batch) * c.max_len * p.d),
        valid_(static_cast<size_t>(c.heads) * sparse_qkv_valid_slots(c.hd)),
        heads_(c.heads),
        count_(1),
        pos_(1) {
    k_.poison();
    v_.poison();
    xh_.poison();
    valid_.zero();
    args_ = {q_.data(),     k_.data(),     v_.data(),   xh_.data(), valid_.data(), x_.data(), w_.data(), b_.data(),
             heads_.data(), count_.data(), pos_.data(), c.batch,    c.heads,       c.hd,      c.max_len, c.heads};
    DV_CUDA_CHECK(cudaStreamCreate(&stream_));
    if (c.graph) {
      DV_CUDA_CHECK(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal));
      launch_sparse_qkv(args_, stream_);
      cudaGraph_t graph = nullptr;
      DV_CUDA_CHECK(cudaStreamEndCapture(stream_, &graph));
      DV_CUDA_CHECK(cudaGraphInstantiate(&exec_, graph, 0));
      DV_CUDA_CHECK(cudaGraphDestroy(graph));
    }
  }
  ~GpuBackend() override {
    if (exec_) (void)cudaGraphExecDestroy(exec_);
    (void)cudaStreamDestroy(stream_);
  }
  void step(const std::vector<int>& heads, int count, int pos, const std::vector<__half>& x) override {
    heads_.upload(heads);
    count_.upload({count});
    pos_.upload({pos});
    x_.upload(x);
    q_.poison(stream_);
    if (exec_) {
      DV_CUDA_CHECK(cudaGraphLaunch(exec_, stream_));
    } else {
      launch_sparse_qkv(args_, stream_);
    }
    DV_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }
  std::vector<__half> q() override { return q_.download(); }
  std::vector<__half> k() override { return k_.download(); }
  std::vector<__half> v() override { return v_.download(); }
  std::vector<__half> x_hist() override { return xh_.download(); }
  std::vector<int> valid() override { return valid_.download(); }
  void fill_valid(int value) { launch_kv_valid_fill(valid_.data(), args_.num_heads, args_.head_dim, value, stream_); }

 private:
  DeviceBuffer<__half> w_, b_, x_, q_, k_, v_, xh_;
  DeviceBuffer<int> valid_, heads_, count_, pos_;
  SparseQkvArgs args_;
  cudaStream_t stream_ = nullptr;
  cudaGraphExec_t exec_ = nullptr;
};

// Drives one case through `backend`, checking q, the cache, kv_valid and x_hist after every step.
void run_case(const QkvCase& c, const Problem& p, const std::vector<std::vector<int>>& sel, QkvBackend& be,
              std::mt19937_64& rng) {
  const size_t d = p.d;
  const int hd = c.hd, slots = sparse_qkv_valid_slots(hd);
  std::vector<int> valid_model(static_cast<size_t>(c.heads) * slots, 0);
  const bool full_checks = static_cast<size_t>(c.batch) * c.heads * c.max_len * hd <= (1u << 18);
  for (int t = 0; t < c.steps; ++t) {
    SCOPED_TRACE("step " + std::to_string(t));
    std::vector<int> padded = sel[t];
    while (static_cast<int>(padded.size()) < c.heads) padded.push_back(static_cast<int>(rng() % c.heads));
    be.step(padded, static_cast<int>(sel[t].size()), t, p.x[t]);
    std::vector<bool> chosen(c.heads, false);
    for (int h : sel[t]) {
      chosen[h] = true;
      for (int s = 0; s < slots; ++s) valid_model[h * slots + s] = t + 1;
    }
    ASSERT_EQ(be.valid(), valid_model);

    const std::vector<__half> q = be.q();
    std::vector<__half> q_got;
    std::vector<float> q_ref;
    for (int b = 0; b < c.batch; ++b)
      for (int h = 0; h < c.heads; ++h)
        for (int r = 0; r < hd; ++r) {
          const __half g = q[(static_cast<size_t>(b) * c.heads + h) * hd + r];
          if (!chosen[h]) {
            ASSERT_TRUE(is_poison(g)) << "q of unselected head " << h << " written";
            continue;
          }
          q_got.push_back(g);
          q_ref.push_back(p.truth(c, t, b, h, 0, r));
        }
    if (!q_got.empty()) {
      ASSERT_TRUE(test::expect_close(q_got, q_ref, DType::kF16, "q"));
    }

    if (!full_checks && t != c.steps - 1) continue;
    const std::vector<__half> xh = be.x_hist();
    for (int b = 0; b < c.batch; ++b)
      for (int tt = 0; tt < c.max_len; ++tt)
        for (size_t i = 0; i < d; i += 7) {
          const __half g = xh[(static_cast<size_t>(b) * c.max_len + tt) * d + i];
          if (tt <= t)
            ASSERT_EQ(__half_raw(g).x, __half_raw(p.x[tt][b * d + i]).x) << "x_hist b=" << b << " t=" << tt;
          else
            ASSERT_TRUE(is_poison(g)) << "x_hist row " << tt << " written early";
        }
    for (int part = 1; part <= 2; ++part) {
      const std::vector<__half> cache = part == 1 ? be.k() : be.v();
      std::vector<__half> got;
      std::vector<float> ref;
      for (int b = 0; b < c.batch; ++b)
        for (int h = 0; h < c.heads; ++h)
          for (int tt = 0; tt < c.max_len; ++tt)
            for (int r = 0; r < hd; ++r) {
              const int slot = (part - 1) * (slots / 2) + r / kSparseQkvSlotRows;
              const __half g = cache[((static_cast<size_t>(b) * c.heads + h) * c.max_len + tt) * hd + r];
              if (tt >= valid_model[h * slots + slot]) {
                ASSERT_TRUE(is_poison(g)) << "cache written past kv_valid: part " << part << " h " << h << " t " << tt;
                continue;
              }
              got.push_back(g);
              ref.push_back(p.truth(c, tt, b, h, part, r));
            }
      if (!got.empty()) {
        ASSERT_TRUE(test::expect_close(got, ref, DType::kF16, part == 1 ? "K cache" : "V cache"));
      }
    }
  }
  // The last step selected every head: the whole cache [0, steps) is now the dense cache.
  for (int v : be.valid()) ASSERT_EQ(v, c.steps);
}

TEST(SparseQkvKernel, CacheEqualsDenseAfterRandomSelections) {
  DV_SKIP_WITHOUT_GPU();
  for (size_t ci = 0; ci < kCases.size(); ++ci) {
    const QkvCase& c = kCases[ci];
    SCOPED_TRACE(describe(c));
    std::mt19937_64 rng(test::case_seed("sparse_qkv", static_cast<int>(ci)));
    const Problem p = make_problem(c, rng);
    const auto sel = make_selections(c, rng);
    GpuBackend be(c, p);
    run_case(c, p, sel, be, rng);
    if (HasFatalFailure()) return;
  }
}

// The reference obeys the same contract (runs without a GPU; the small cases keep it quick).
TEST(SparseQkvRef, CacheEqualsDenseAfterRandomSelections) {
  for (size_t ci : {0, 1, 2, 7, 9}) {
    QkvCase c = kCases[ci];
    c.graph = false;
    SCOPED_TRACE(describe(c));
    std::mt19937_64 rng(test::case_seed("sparse_qkv_ref", static_cast<int>(ci)));
    const Problem p = make_problem(c, rng);
    const auto sel = make_selections(c, rng);
    RefBackend be(c, p);
    run_case(c, p, sel, be, rng);
    if (HasFatalFailure()) return;
  }
}

// After a dense prefill marks T positions valid (launch_kv_valid_fill), a step at pos T computes only
// position T: the prefilled positions are left as the prefill wrote them (here: still poisoned).
TEST(SparseQkvKernel, ValidFillSkipsPrefilledPositions) {
  DV_SKIP_WITHOUT_GPU();
  const QkvCase c{2, 3, 6, 8, Pattern::kDense, false, 128};
  std::mt19937_64 rng(test::case_seed("sparse_qkv_fill", 0));
  const Problem p = make_problem(c, rng);
  GpuBackend be(c, p);
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
            ASSERT_TRUE(is_poison(g)) << "position " << tt << " recomputed or written";
            continue;
          }
          got.push_back(g);
          ref.push_back(p.truth(c, pos, b, h, 1, r));
        }
  ASSERT_TRUE(test::expect_close(got, ref, DType::kF16, "K at pos"));
}

TEST(SparseQkvKernel, RejectsBadArguments) {
  SparseQkvArgs a;
  a.batch = 1;
  a.num_heads = 4;
  a.max_len = 8;
  a.max_heads = 4;
  a.head_dim = 96;
  EXPECT_THROW(launch_sparse_qkv(a, nullptr), Error);
  a.head_dim = 64;
  a.max_heads = 5;
  EXPECT_THROW(launch_sparse_qkv(a, nullptr), Error);
  EXPECT_THROW(pack_qkv_weights(QkvPackArgs{}), Error);
}

}  // namespace
}  // namespace dv
