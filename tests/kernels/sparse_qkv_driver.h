// sparse_qkv_driver.h: drives sparse_qkv (+ kv_catchup) over a sequence of decode steps with given head selections, on
// the GPU (optionally one captured CUDA graph replayed every step) or through the plain C++ references, and checks the
// contract after every step against an independent model: which kv_valid slots move (selected heads, every head with
// all_kv, the forced heads: not selected, lag >= force_lag, largest lag first, at most max_forced), the catch-up
// counters, the lag bound of the catch-up plan, q, the x_hist ring, and the K/V cache against the dense projection of
// the same inputs (computed here from Hugging Face's separate q/k/v_proj layout, so pack_qkv_weights is checked too);
// cache rows never due stay poisoned. With the fused layer norm (QkvCase::ln) the op gets the raw rows and gamma /
// beta, and the truth is the projection of their normalization by layer_norm_ref. With QkvCase::ln_partials the GPU op
// also gets x's per-512-column row sums (sparse_mlp_down's row_partials contract, made here by its reference) and takes
// its statistics from them.
#pragma once

#include <algorithm>
#include <array>
#include <numeric>
#include <string>
#include <vector>

#include "kernels/layer_norm/layer_norm_ref.h"
#include "kernels/persistent_decode/decode_op_launch.h"
#include "kernels/sparse_mlp_down/sparse_mlp_down_ref.h"
#include "kernels/sparse_qkv/sparse_qkv.cuh"
#include "kernels/sparse_qkv/sparse_qkv_pack.h"
#include "kernels/sparse_qkv/sparse_qkv_ref.h"
#include "tests/kernels/kernel_test_util.h"

namespace dv::test {

constexpr __half_raw kQkvPoison{0xFFFFu};
inline bool qkv_poison(__half h) { return __half_raw(h).x == kQkvPoison.x; }

enum class KvMode { kFullHistory, kRing, kForced, kAllKv };
// sparse_qkv's A/B variants (SparseQkvArgs::prefetch, plain_unroll, units_per_sm, pipelined, loop_units,
// tiled_weights: the GPU backend tiles w_qkv with launch_tile_qkv_weights), and the persistent kernel's op
// entries (launch_decode_op: the qkv and kv_catchup kinds, or their tiled kinds): the same bits as the default.
enum class QkvVariant { kDefault, kNoPrefetch, kUnroll8, kThreePerSm, kPipelined, kLoopUnits, kPipelinedLoop, kTiled,
                        kPersistentOp, kPersistentOpTiled };
// loop_units' SM count in the tests: 2 CTAs, so each loops over many units (and meets every kind of slice).
constexpr int kQkvLoopSms = 1;

struct QkvCase {
  int batch, heads, steps, max_len;
  int gap;       // > 0: head 0 is selected only every gap + 1 steps (a lag of `gap`); 0: random selections;
                 // -1: at most one head a step (most heads lag: the forced heads queue)
  bool graph;    // GPU only: capture the launches once, replay them every step
  int hd;
  KvMode mode;
  int ring;      // kRing / kForced: x_hist positions (kFullHistory: max_len)
  bool dense;    // every head selected at every step
  bool ln = false;  // the attention layer norm fused into the op (x: raw rows with a mean and spread of their own)
  QkvVariant variant = QkvVariant::kDefault;
  bool ln_partials = false;  // with ln: the statistics from row partials of x (ln_row_partials), not a pass over x
};

inline std::string describe(const QkvCase& c) {
  return "B=" + std::to_string(c.batch) + " H=" + std::to_string(c.heads) + " steps=" + std::to_string(c.steps) +
         " max_len=" + std::to_string(c.max_len) + " gap=" + std::to_string(c.gap) + " graph=" + std::to_string(c.graph) +
         " hd=" + std::to_string(c.hd) + " mode=" + std::to_string(static_cast<int>(c.mode)) +
         " ring=" + std::to_string(c.ring) + (c.ln ? " ln" : "") +
         " variant=" + std::to_string(static_cast<int>(c.variant)) + (c.ln_partials ? " ln_partials" : "");
}

// The launch settings a case implies.
inline SparseQkvArgs case_args(const QkvCase& c) {
  SparseQkvArgs a;
  a.batch = c.batch;
  a.num_heads = c.heads;
  a.head_dim = c.hd;
  a.max_len = c.max_len;
  a.max_heads = c.heads;
  a.all_kv = c.mode == KvMode::kAllKv;
  a.ring = c.mode == KvMode::kAllKv ? 0 : c.mode == KvMode::kFullHistory ? c.max_len : c.ring;
  if (c.mode == KvMode::kForced) {
    const KvCatchupPlan plan = sparse_qkv_catchup_plan(c.batch, c.heads, a.ring);
    a.max_forced = plan.max_forced;
    a.force_lag = plan.force_lag;
  }
  a.prefetch = c.variant != QkvVariant::kNoPrefetch;
  a.plain_unroll = c.variant == QkvVariant::kUnroll8 ? 8 : 4;
  a.units_per_sm = c.variant == QkvVariant::kThreePerSm ? 3 : 2;
  a.pipelined = c.variant == QkvVariant::kPipelined || c.variant == QkvVariant::kPipelinedLoop;
  a.loop_units = c.variant == QkvVariant::kLoopUnits || c.variant == QkvVariant::kPipelinedLoop;
  a.sm_count = a.loop_units ? kQkvLoopSms : 0;
  a.tiled_weights = c.variant == QkvVariant::kTiled || c.variant == QkvVariant::kPersistentOpTiled;
  return a;
}

// A backend's state buffers bound into the launch arguments.
struct QkvState {
  __half *q, *k, *v, *x_hist;
  int *valid, *forced, *forced_count, *counts;
};
inline void bind_state(SparseQkvArgs& a, const QkvState& s) {
  a.q = s.q, a.k_cache = s.k, a.v_cache = s.v, a.x_hist = a.ring > 0 ? s.x_hist : nullptr;
  a.kv_valid = s.valid, a.forced = s.forced, a.forced_count = s.forced_count, a.catchup_counts = s.counts;
}

// Inputs of one case: packed weights, per-step inputs and the dense truth q/k/v [steps][B][H][3][hd].
struct QkvProblem {
  int d = 0, hd = 0, heads = 0, batch = 0;
  std::vector<__half> w_qkv, b_qkv;
  std::vector<std::vector<__half>> x;      // [steps][B * d] the projection's input (normalized with ln)
  std::vector<std::vector<__half>> x_raw;  // ln: [steps][B * d] what the op is given
  std::vector<__half> gamma, beta;         // ln: [d]
  std::vector<float> dense;
  const std::vector<__half>& input(int t) const { return x_raw.empty() ? x[t] : x_raw[t]; }
  float truth(int t, int b, int h, int part, int r) const {
    return dense[(((static_cast<size_t>(t) * batch + b) * heads + h) * 3 + part) * hd + r];
  }
};

inline QkvProblem make_qkv_problem(const QkvCase& c, std::mt19937_64& rng) {
  QkvProblem p;
  p.hd = c.hd;
  p.heads = c.heads;
  p.batch = c.batch;
  p.d = c.heads * c.hd;
  const size_t d = p.d;
  const float a = 2.f / std::sqrt(static_cast<float>(d));
  std::vector<HalfData> w, b;
  for (int i = 0; i < 3; ++i) {
    w.push_back(random_halves(d * d, rng, -a, a));
    b.push_back(random_halves(d, rng, -0.5f, 0.5f));
  }
  p.w_qkv.resize(3 * d * d);
  p.b_qkv.resize(3 * d);
  pack_qkv_weights({p.w_qkv.data(), p.b_qkv.data(), w[0].h.data(), w[1].h.data(), w[2].h.data(), b[0].h.data(),
                    b[1].h.data(), b[2].h.data(), c.heads, c.hd});
  p.dense.resize(static_cast<size_t>(c.steps) * c.batch * 3 * d);
  if (c.ln) {
    p.gamma = random_halves(d, rng, 0.5f, 1.5f).h;
    p.beta = random_halves(d, rng, -0.5f, 0.5f).h;
  }
  for (int t = 0; t < c.steps; ++t) {
    if (c.ln) {
      p.x_raw.push_back(random_halves(c.batch * d, rng, -3.f, 5.f).h);
      std::vector<__half> normed(c.batch * d);
      LayerNormArgs ln;
      ln.y = normed.data();
      ln.x = p.x_raw.back().data();
      ln.gamma = p.gamma.data();
      ln.beta = p.beta.data();
      ln.rows = c.batch;
      ln.d = static_cast<int>(d);
      layer_norm_ref(ln);
      p.x.push_back(normed);
    } else {
      p.x.push_back(random_halves(c.batch * d, rng).h);
    }
    for (int bt = 0; bt < c.batch; ++bt)
      for (int part = 0; part < 3; ++part)
        for (size_t o = 0; o < d; ++o) {  // HF output feature o = head o / hd, dim o % hd
          double acc = b[part].f[o];
          const float* wr = w[part].f.data() + o * d;
          const __half* xv = p.x[t].data() + bt * d;
          for (size_t i = 0; i < d; ++i) acc += static_cast<double>(wr[i]) * __half2float(xv[i]);
          p.dense[(((static_cast<size_t>(t) * c.batch + bt) * c.heads + o / c.hd) * 3 + part) * c.hd + o % c.hd] =
              static_cast<float>(acc);
        }
  }
  return p;
}

// Heads selected at each step; the last step selects every head so the whole cache becomes checkable.
// Random steps draw none, one, all or a random number of heads, sometimes with a duplicate entry.
inline std::vector<std::vector<int>> make_qkv_selections(const QkvCase& c, std::mt19937_64& rng) {
  std::vector<std::vector<int>> sel(c.steps);
  for (int t = 0; t < c.steps; ++t) {
    if (c.dense || t == c.steps - 1) {
      sel[t].resize(c.heads);
      std::iota(sel[t].begin(), sel[t].end(), 0);
      if (!c.dense) std::shuffle(sel[t].begin(), sel[t].end(), rng);
      continue;
    }
    if (c.gap < 0) {
      sel[t] = random_indices(c.heads, static_cast<int>(rng() % 2), rng);
      continue;
    }
    const int choice = static_cast<int>(rng() % 5);
    const int k = choice == 0 ? 0 : choice == 1 ? 1 : choice == 2 ? c.heads : static_cast<int>(rng() % (c.heads + 1));
    sel[t] = random_indices(c.heads, k, rng);
    if (c.gap > 0) {
      sel[t].erase(std::remove(sel[t].begin(), sel[t].end(), 0), sel[t].end());
      if (t % (c.gap + 1) == 0) sel[t].push_back(0);
    }
    if (choice == 4 && !sel[t].empty() && static_cast<int>(sel[t].size()) < c.heads)
      sel[t].push_back(sel[t].front());  // a duplicate entry is legal
  }
  return sel;
}

// One implementation under test, with host-visible state after each step.
class QkvBackend {
 public:
  virtual ~QkvBackend() = default;
  virtual void step(const std::vector<int>& heads_padded, int count, int pos, const std::vector<__half>& x) = 0;
  virtual std::vector<__half> q() = 0;
  virtual std::vector<__half> k() = 0;
  virtual std::vector<__half> v() = 0;
  virtual std::vector<__half> x_hist() = 0;
  virtual std::vector<int> valid() = 0;
  virtual std::vector<int> counts() = 0;  // [max_len][3]
};

class QkvRefBackend : public QkvBackend {
 public:
  QkvRefBackend(const QkvCase& c, const QkvProblem& p) : a_(case_args(c)) {
    const size_t cache = static_cast<size_t>(c.batch) * c.heads * c.max_len * c.hd;
    q_.assign(static_cast<size_t>(c.batch) * c.heads * c.hd, __half(kQkvPoison));
    k_.assign(cache, __half(kQkvPoison));
    v_.assign(cache, __half(kQkvPoison));
    xh_.assign(static_cast<size_t>(c.batch) * std::max(a_.ring, 1) * p.d, __half(kQkvPoison));
    valid_.assign(static_cast<size_t>(c.heads) * sparse_qkv_valid_slots(c.hd), 0);
    counts_.assign(static_cast<size_t>(c.max_len) * 3, 0);
    forced_.assign(2 * kSparseQkvMaxForced, -1);
    bind_state(a_, {q_.data(), k_.data(), v_.data(), xh_.data(), valid_.data(), forced_.data(), &forced_count_,
                    counts_.data()});
    if (c.ln) {
      a_.ln_gamma = p.gamma.data();
      a_.ln_beta = p.beta.data();
    }
    a_.w_qkv = p.w_qkv.data();
    a_.b_qkv = p.b_qkv.data();
    a_.num_selected = &count_;
    a_.pos = &pos_;
  }
  void step(const std::vector<int>& heads, int count, int pos, const std::vector<__half>& x) override {
    std::fill(q_.begin(), q_.end(), __half(kQkvPoison));
    count_ = count;
    pos_ = pos;
    a_.heads = heads.data();
    a_.x = x.data();
    sparse_qkv_ref(a_);
    kv_catchup_ref(kv_catchup_args(a_));
  }
  std::vector<__half> q() override { return q_; }
  std::vector<__half> k() override { return k_; }
  std::vector<__half> v() override { return v_; }
  std::vector<__half> x_hist() override { return xh_; }
  std::vector<int> valid() override { return valid_; }
  std::vector<int> counts() override { return counts_; }

 private:
  SparseQkvArgs a_;
  std::vector<__half> q_, k_, v_, xh_;
  std::vector<int> valid_, counts_, forced_;
  int forced_count_ = 0, count_ = 0, pos_ = 0;
};

class QkvGpuBackend : public QkvBackend {
 public:
  QkvGpuBackend(const QkvCase& c, const QkvProblem& p)
      : variant_(c.variant),
        a_(case_args(c)),
        w_(p.w_qkv),
        b_(p.b_qkv),
        gamma_(c.ln ? p.gamma : std::vector<__half>(8)),
        beta_(c.ln ? p.beta : std::vector<__half>(8)),
        x_(static_cast<size_t>(c.batch) * p.d),
        q_(static_cast<size_t>(c.batch) * c.heads * c.hd),
        k_(static_cast<size_t>(c.batch) * c.heads * c.max_len * c.hd),
        v_(k_.size()),
        xh_(static_cast<size_t>(c.batch) * std::max(a_.ring, 1) * p.d),
        valid_(static_cast<size_t>(c.heads) * sparse_qkv_valid_slots(c.hd)),
        counts_(static_cast<size_t>(c.max_len) * 3),
        forced_(2 * kSparseQkvMaxForced),
        partials_(2 * static_cast<size_t>(c.batch) * ((p.d + 511) / 512)),
        heads_(c.heads),
        count_(1),
        pos_(1),
        forced_count_(1) {
    k_.poison();
    v_.poison();
    xh_.poison();
    valid_.zero();
    counts_.zero();
    bind_state(a_, {q_.data(), k_.data(), v_.data(), xh_.data(), valid_.data(), forced_.data(),
                    forced_count_.data(), counts_.data()});
    a_.x = x_.data();
    if (c.ln) {
      a_.ln_gamma = gamma_.data();
      a_.ln_beta = beta_.data();
    }
    if (c.ln_partials) {
      a_.ln_row_partials = partials_.data();
      a_.ln_partial_blocks = (p.d + 511) / 512;
    }
    if (a_.tiled_weights) {  // the op reads the tiled copy; w_ keeps the row-major one the tiling reads
      w_tiled_ = DeviceBuffer<__half>(p.w_qkv.size());
      launch_tile_qkv_weights(w_tiled_.data(), w_.data(), static_cast<int>(p.w_qkv.size() / p.d), p.d, nullptr);
      DV_CUDA_CHECK(cudaDeviceSynchronize());
    }
    a_.w_qkv = a_.tiled_weights ? w_tiled_.data() : w_.data();
    a_.b_qkv = b_.data();
    a_.heads = heads_.data();
    a_.num_selected = count_.data();
    a_.pos = pos_.data();
    DV_CUDA_CHECK(cudaStreamCreate(&stream_));
    if (c.graph) {
      DV_CUDA_CHECK(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal));
      launch();
      cudaGraph_t graph = nullptr;
      DV_CUDA_CHECK(cudaStreamEndCapture(stream_, &graph));
      DV_CUDA_CHECK(cudaGraphInstantiate(&exec_, graph, 0));
      DV_CUDA_CHECK(cudaGraphDestroy(graph));
    }
  }
  ~QkvGpuBackend() override {
    if (exec_) (void)cudaGraphExecDestroy(exec_);
    (void)cudaStreamDestroy(stream_);
  }
  void step(const std::vector<int>& heads, int count, int pos, const std::vector<__half>& x) override {
    heads_.upload(heads);
    count_.upload({count});
    pos_.upload({pos});
    x_.upload(x);
    if (a_.ln_row_partials != nullptr) {
      std::vector<float> sums(partials_.size());
      kernels::sparse_mlp_down_row_partials_ref(x.data(), a_.batch, sparse_qkv_width(a_), sums.data());
      partials_.upload(sums);
    }
    q_.poison(stream_);
    if (exec_) {
      DV_CUDA_CHECK(cudaGraphLaunch(exec_, stream_));
    } else {
      launch();
    }
    DV_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }
  std::vector<__half> q() override { return q_.download(); }
  std::vector<__half> k() override { return k_.download(); }
  std::vector<__half> v() override { return v_.download(); }
  std::vector<__half> x_hist() override { return xh_.download(); }
  std::vector<int> valid() override { return valid_.download(); }
  std::vector<int> counts() override { return counts_.download(); }
  void fill_valid(int value) { launch_kv_valid_fill(valid_.data(), a_.num_heads, a_.head_dim, value, stream_); }

 private:
  void launch() {
    using kernels::DecodeOpKind;
    // The persistent kernel's entries, one plain launch each; a catch-up entry only where forcing is on, as the plan.
    const KvCatchupArgs c = kv_catchup_args(a_);
    if (variant_ == QkvVariant::kPersistentOp) {
      launch_decode_op(DecodeOpKind::kQkv, kernels::SparseQkvOp{a_}, stream_);
      if (c.max_forced > 0) launch_decode_op(DecodeOpKind::kKvCatchup, kernels::KvCatchupOp{c}, stream_);
    } else if (variant_ == QkvVariant::kPersistentOpTiled) {
      launch_decode_op(DecodeOpKind::kQkvTiled, kernels::SparseQkvTiledOp{{a_}}, stream_);
      if (c.max_forced > 0) launch_decode_op(DecodeOpKind::kKvCatchupTiled, kernels::KvCatchupTiledOp{{c}}, stream_);
    } else {
      launch_sparse_qkv(a_, stream_);
      launch_kv_catchup(c, stream_);
    }
  }
  QkvVariant variant_;
  SparseQkvArgs a_;
  DeviceBuffer<__half> w_, b_, gamma_, beta_, x_, q_, k_, v_, xh_;
  DeviceBuffer<__half> w_tiled_;  // tiled_weights: the tiled copy of w_
  DeviceBuffer<int> valid_, counts_, forced_;
  DeviceBuffer<float> partials_;  // ln_partials: [col_blocks][B][2] row sums of x
  DeviceBuffer<int> heads_, count_, pos_, forced_count_;
  cudaStream_t stream_ = nullptr;
  cudaGraphExec_t exec_ = nullptr;
};

// The contract's model of kv_valid and the counters for one step (heads' slots all move together).
struct QkvModel {
  std::vector<int> valid;                // [H]
  std::vector<std::vector<int>> lost;    // per head: positions that fell out of the ring (never written)
  std::array<int, 3> counts{};           // this step's expected counters
  void step(const QkvCase& c, const SparseQkvArgs& a, const std::vector<int>& sel, int pos) {
    counts = {0, 0, 0};
    std::vector<bool> chosen(c.heads, false);
    for (int h : sel) chosen[h] = true;
    const std::vector<int> before = valid;
    for (int h = 0; h < c.heads; ++h) {
      if (!(chosen[h] || a.all_kv)) continue;
      const int v = std::min(before[h], pos), t_begin = a.ring > 0 ? std::max(v, pos - a.ring + 1) : pos;
      counts[0] += pos - t_begin;
      counts[2] += t_begin - v;
      for (int t = v; t < t_begin; ++t) lost[h].push_back(t);
      valid[h] = pos + 1;
    }
    std::vector<std::pair<int, int>> cand;  // (-lag, h)
    for (int h = 0; h < c.heads && a.max_forced > 0; ++h)
      if (!chosen[h] && pos - before[h] >= a.force_lag) cand.push_back({before[h] - pos, h});
    std::sort(cand.begin(), cand.end());
    for (int i = 0; i < std::min<int>(a.max_forced, static_cast<int>(cand.size())); ++i) {
      const int h = cand[i].second, v = before[h], from = std::max(v, pos - a.ring + 1);
      counts[1] += pos - from + 1;
      counts[2] += from - v;
      for (int t = v; t < from; ++t) lost[h].push_back(t);
      valid[h] = pos + 1;
    }
  }
  bool is_lost(int h, int t) const { return std::find(lost[h].begin(), lost[h].end(), t) != lost[h].end(); }
};

}  // namespace dv::test
