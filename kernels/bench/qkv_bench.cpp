// qkv_bench.cpp: kernel_bench's sparse_qkv rows (see qkv_bench.h).
// Tensors are hashed on the device (bench_device.cuh) in the engine's packed layout w_qkv [H][3][hd][d], so
// the host recomputes any head's weights. A selection is k = density * H random heads, ascending. The op runs
// at pos kPos with kv_valid = pos for every head and the 128-position x_hist ring (the engine's), no forced
// catch-up: the steady-state step (q of the selected heads, their K/V at pos, the x_hist row). The dense
// baseline is the dense step's cuBLAS GEMM alone (engine/cuda/decode_step.cpp dense_qkv: linear of x by the
// [3d, d] weight): no bias or K/V append kernels, which favours dense.
// Validation: sparse_qkv_ref on a one-head problem per sampled head (a selected head's output depends only on
// its own weights and x), compared with every q / K / V value of that head and x_hist samples, on outputs
// poisoned (NaN) before the launch; the dense GEMM (+ bias here) against the same reference.
// Row `qkv_rows_rowdot`, a diagnostic: sparse_mlp_up's row_dot over the selected heads' 3 hd rows (+ bias, ReLU; no
// K/V cache or x_hist), the same bytes in row_dot's tiling (8 rows a block at B <= 8; a sparse_qkv unit has 16).
#include "kernels/bench/qkv_bench.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <set>
#include <string>

#include <fmt/format.h>

#include "kernels/bench/bench_device.cuh"
#include "kernels/bench/bench_tensors.h"
#include "kernels/bench/bench_validate.h"
#include "kernels/bench/dev_array.h"
#include "kernels/common/cuda_check.h"
#include "kernels/sparse_mlp_down/sparse_mlp_down.cuh"
#include "kernels/sparse_mlp_down/sparse_mlp_down_ref.h"
#include "kernels/sparse_mlp_up/sparse_mlp_up.cuh"
#include "kernels/sparse_qkv/sparse_qkv.cuh"
#include "kernels/sparse_qkv/sparse_qkv_ref.h"

namespace dv::bench {
namespace {

constexpr uint64_t kWqkv = 21, kBqkv = 22;  // hashed_half seeds (x, gamma, beta: BenchTensors')
constexpr int kMaxLen = 256, kPos = 200, kCheckedHeads = 2;

// An A/B variant of the op: SparseQkvArgs fields; the first is today's default.
struct Variant {
  const char* op;
  bool ln;        // ln_gamma set: x is the residual stream, normalized by every unit
  bool prefetch;  // SparseQkvArgs::prefetch
  int unroll;     // SparseQkvArgs::plain_unroll
  int per_sm;     // SparseQkvArgs::units_per_sm
  bool all_kv;    // K/V of every head (what the catch-up plan picks where force_lag < 1, e.g. opt-13b at B = 8)
  bool partials = false;  // with ln: the statistics from x's row partials (SparseQkvArgs::ln_row_partials), as
                          // the residual flow's QKV gets them from the MLP down, instead of each unit's pass
  bool pipe = false;      // SparseQkvArgs::pipelined: the plain pass's next weight round ahead of this one's MMAs
  bool loop = false;      // SparseQkvArgs::loop_units: one wave of CTAs looping over the units
  bool tiled = false;     // SparseQkvArgs::tiled_weights: w_qkv in 16 x 32 blocks of one contiguous KB each
};
// No L2 prefetch by default since 6800122's rows: the prefetch made every shape slower (opt-13b, heads 50 %,
// B = 1: 41.7 against 38.8 us without it; results/h100/2026-12-07_6800122/kernels).
constexpr Variant kVariants[] = {{"sparse_qkv", false, false, 4, 2, false},
                                 {"sparse_qkv+ln", true, false, 4, 2, false},
                                 {"sparse_qkv+ln_partials", true, false, 4, 2, false, true},
                                 {"sparse_qkv+prefetch", false, true, 4, 2, false},
                                 {"sparse_qkv-unroll8", false, false, 8, 2, false},
                                 {"sparse_qkv-3persm", false, false, 4, 3, false},
                                 {"sparse_qkv-allkv", false, false, 4, 2, true},
                                 {"sparse_qkv+pipe", false, false, 4, 2, false, false, true, false},
                                 {"sparse_qkv+loop", false, false, 4, 2, false, false, false, true},
                                 {"sparse_qkv+tiled", false, false, 4, 2, false, false, false, false, true}};

// One head's outputs from sparse_qkv_ref: q [B, hd], k and v at pos [B, hd], the x_hist row [B, d].
struct HeadRef {
  std::vector<__half> q, k, v, x_hist, bias;  // bias [3 * hd]: the dense check adds it to the GEMM
};

// f(b, part, j, want) for every q / k / v value of a head's reference (part 0 q, 1 k, 2 v), b-major.
template <class F>
void for_each_ref_value(const HeadRef& r, int B, int hd, F f) {
  for (int b = 0; b < B; ++b)
    for (int part = 0; part < 3; ++part) {
      const std::vector<__half>& want = part == 0 ? r.q : part == 1 ? r.k : r.v;
      for (int j = 0; j < hd; ++j) f(b, part, j, __half2float(want[b * hd + j]));
    }
}

// The variant's name after "sparse_qkv" ("default" for the first).
std::string variant_name(const Variant& v) {
  const std::string tail = std::string(v.op).substr(std::string(kVariants[0].op).size());
  return tail.empty() ? "default" : tail;
}

void mark(BenchRow& row, const SampleCheck& check) {
  row.valid = row.valid && check.ok();
  if (!check.ok()) row.note += (row.note.empty() ? "" : "; ") + std::string("INVALID: ") + check.describe();
}

std::vector<__half> download(const __half* p, size_t n) {
  std::vector<__half> h(n);
  DV_CUDA_CHECK(cudaMemcpy(h.data(), p, n * sizeof(__half), cudaMemcpyDeviceToHost));
  return h;
}

class QkvShapeBench {
 public:
  QkvShapeBench(const OptShape& s, const QkvBenchConfig& cfg)
      : s_(s),
        cfg_(cfg),
        hd_(s.d / s.heads),
        bmax_(*std::max_element(cfg.batches.begin(), cfg.batches.end())),
        d_(static_cast<size_t>(s.d)),
        w_(3 * d_ * d_),
        w_tiled_(3 * d_ * d_),
        b_(3 * d_),
        x_(bmax_ * d_),
        gamma_(d_),
        beta_(d_),
        q_(bmax_ * d_),
        kc_(bmax_ * d_ * kMaxLen),
        vc_(bmax_ * d_ * kMaxLen),
        x_hist_(bmax_ * d_ * kSparseQkvRing),
        out_(bmax_ * 3 * d_),
        col_blocks_((s.d + kernels::kSparseMlpDownUnitCols - 1) / kernels::kSparseMlpDownUnitCols),
        partials_(2 * bmax_ * col_blocks_),
        valid_(static_cast<size_t>(s.heads) * sparse_qkv_valid_slots(hd_)),
        heads_(static_cast<size_t>(s.heads)),
        count_(1),
        pos_(1),
        rows_(3 * d_) {
    T_.d = s.d;
    const cudaStream_t st = cfg.timer.stream;
    fill_hashed(w_.get(), 3 * d_ * d_, kWqkv, 1.f / std::sqrt(static_cast<float>(s.d)), st);
    launch_tile_qkv_weights(w_tiled_.get(), w_.get(), 3 * s.d, s.d, st);
    fill_hashed(b_.get(), 3 * d_, kBqkv, 0.1f, st);
    fill_hashed(x_.get(), bmax_ * d_, BenchTensors::kX, 1.f, st);
    DV_CUDA_CHECK(cudaStreamSynchronize(st));
    gamma_h_.resize(d_);
    beta_h_.resize(d_);
    for (int c = 0; c < s.d; ++c) {
      gamma_h_[c] = __float2half_rn(T_.gamma(c));
      beta_h_[c] = __float2half_rn(T_.beta(c));
    }
    gamma_.upload(gamma_h_);
    beta_.upload(beta_h_);
    pos_.upload({kPos});
    int device = 0;
    DV_CUDA_CHECK(cudaGetDevice(&device));
    DV_CUDA_CHECK(cudaDeviceGetAttribute(&sms_, cudaDevAttrMultiProcessorCount, device));
    DV_CUDA_CHECK(cudaDeviceSynchronize());
  }

  void run(cublasHandle_t cublas, std::vector<BenchRow>& rows) {
    std::mt19937_64 rng(std::hash<std::string>{}(s_.name + "/qkv"));
    for (const int B : cfg_.batches) {
      const BenchRow dense = dense_row(cublas, B, rng);
      rows.push_back(dense);
      std::string progress = fmt::format("{} B={}: dense QKV {:.1f} us", s_.name, B, dense.t.median_us);
      for (size_t di = 0; di < cfg_.densities.size(); ++di) {
        const double density = cfg_.densities[di];
        const int k = std::clamp(static_cast<int>(std::lround(density * s_.heads)), 1, s_.heads);
        const std::vector<int> sel = random_selection(s_.heads, k, rng);
        heads_.upload(sel);
        count_.upload({k});
        DV_CUDA_CHECK(cudaDeviceSynchronize());  // the uploads ran on the legacy stream, the op runs on another
        std::vector<int> checked;
        for (int i = 0; i < kCheckedHeads; ++i) checked.push_back(sel[rng() % sel.size()]);
        progress += fmt::format(", {:.0f}%:", 100 * density);
        for (const Variant& v : kVariants) {
          rows.push_back(sparse_row(v, B, density, k, checked, dense.t.median_us));
          progress += fmt::format(" {} {:.1f}{}", variant_name(v), rows.back().t.median_us,
                                  rows.back().valid ? "" : " INVALID");
        }
        rows.push_back(rowdot_row(B, density, sel, checked, dense.t.median_us));
        progress += fmt::format(" rowdot {:.1f}{}", rows.back().t.median_us, rows.back().valid ? "" : " INVALID");
      }
      fmt::print("{} us\n", progress);
      std::fflush(stdout);
    }
  }

 private:
  // sparse_qkv_ref on head h alone (num_heads 1, the model's width d, a one-row ring, kv_valid = pos).
  HeadRef ref_head(int h, int B, bool ln) const {
    const size_t hd = hd_, block = 3 * hd * d_;
    std::vector<__half> w(block), x(B * d_);
    HeadRef r;
    r.bias.resize(3 * hd);
    for (size_t i = 0; i < block; ++i) w[i] = hashed_half(kWqkv, h * block + i, 1.f / std::sqrt(float(s_.d)));
    for (size_t i = 0; i < 3 * hd; ++i) r.bias[i] = hashed_half(kBqkv, h * 3 * hd + i, 0.1f);
    for (size_t i = 0; i < B * d_; ++i) x[i] = hashed_half(BenchTensors::kX, i, 1.f);
    r.q.resize(B * hd);
    std::vector<__half> kc(B * hd * (kPos + 1)), vc(kc.size());
    r.x_hist.resize(B * d_);
    std::vector<int> valid(sparse_qkv_valid_slots(hd_), kPos);
    const int head0 = 0, one = 1, pos = kPos;
    SparseQkvArgs a;
    a.q = r.q.data(), a.k_cache = kc.data(), a.v_cache = vc.data(), a.x_hist = r.x_hist.data();
    a.kv_valid = valid.data(), a.x = x.data(), a.w_qkv = w.data(), a.b_qkv = r.bias.data();
    a.heads = &head0, a.num_selected = &one, a.pos = &pos;
    a.batch = B, a.num_heads = 1, a.head_dim = hd_, a.max_len = kPos + 1, a.d = s_.d, a.max_heads = 1, a.ring = 1;
    if (ln) a.ln_gamma = gamma_h_.data(), a.ln_beta = beta_h_.data();
    sparse_qkv_ref(a);
    r.k.resize(B * hd), r.v.resize(B * hd);
    for (int b = 0; b < B; ++b)
      for (size_t i = 0; i < hd; ++i) {
        r.k[b * hd + i] = kc[(b * (kPos + 1) + kPos) * hd + i];
        r.v[b * hd + i] = vc[(b * (kPos + 1) + kPos) * hd + i];
      }
    return r;
  }

  BenchRow dense_row(cublasHandle_t cublas, int B, std::mt19937_64& rng) {
    const float one = 1.f, zero = 0.f;
    const int n = 3 * s_.d;
    auto gemm = [&] {
      DV_CUBLAS_CHECK(cublasGemmEx(cublas, CUBLAS_OP_T, CUBLAS_OP_N, n, B, s_.d, &one, w_.get(), CUDA_R_16F, s_.d,
                                   x_.get(), CUDA_R_16F, s_.d, &zero, out_.get(), CUDA_R_16F, n, CUBLAS_COMPUTE_32F,
                                   CUBLAS_GEMM_DEFAULT));
    };
    DV_CUDA_CHECK(cudaMemsetAsync(out_.get(), 0xFF, B * 3 * d_ * sizeof(__half), cfg_.timer.stream));
    gemm();
    DV_CUDA_CHECK(cudaStreamSynchronize(cfg_.timer.stream));
    const std::vector<__half> out = out_.download(B * 3 * d_);
    SampleCheck check;
    for (int i = 0; i < kCheckedHeads; ++i) {
      const int h = static_cast<int>(rng() % s_.heads);
      const HeadRef r = ref_head(h, B, false);
      for_each_ref_value(r, B, hd_, [&](int b, int part, int j, float want) {
        check.add(__half2float(out[b * 3 * d_ + (h * 3 + part) * hd_ + j]) + __half2float(r.bias[part * hd_ + j]),
                  want);
      });
    }
    BenchRow row = make_row(s_, B, 1.0, s_.heads, "dense_qkv");
    row.t = time_op(cfg_.timer, gemm);
    row.bytes = {{"w_qkv", 6.0 * d_ * d_}, {"x", 2.0 * B * d_}, {"qkv_out", 6.0 * B * d_}};
    row.note = "cuBLAS GemmEx x [B, d] by w_qkv [3d, d] (no bias, no K/V append)";
    mark(row, check);
    finish_row(row, cfg_.copy_gbps);
    return row;
  }

  BenchRow sparse_row(const Variant& v, int B, double density, int k, const std::vector<int>& checked,
                      double dense_us) {
    const cudaStream_t st = cfg_.timer.stream;
    SparseQkvArgs a;
    a.q = q_.get(), a.k_cache = kc_.get(), a.v_cache = vc_.get(), a.x_hist = x_hist_.get();
    a.kv_valid = valid_.get(), a.x = x_.get(), a.w_qkv = w_.get(), a.b_qkv = b_.get();
    a.heads = heads_.get(), a.num_selected = count_.get(), a.pos = pos_.get();
    a.batch = B, a.num_heads = s_.heads, a.head_dim = hd_, a.max_len = kMaxLen, a.max_heads = k;
    a.ring = kSparseQkvRing;
    if (v.ln) {
      a.ln_gamma = gamma_.get();
      a.ln_beta = beta_.get();
    }
    if (v.partials) {  // x's row partials for this B, made on the host as the producer would write them
      std::vector<__half> x(B * d_);
      for (size_t i = 0; i < x.size(); ++i) x[i] = hashed_half(BenchTensors::kX, i, 1.f);
      std::vector<float> sums(2 * static_cast<size_t>(B) * col_blocks_);
      kernels::sparse_mlp_down_row_partials_ref(x.data(), B, s_.d, sums.data());
      partials_.upload(sums);
      a.ln_row_partials = partials_.get();
      a.ln_partial_blocks = col_blocks_;
    }
    a.prefetch = v.prefetch, a.plain_unroll = v.unroll, a.units_per_sm = v.per_sm, a.all_kv = v.all_kv;
    a.pipelined = v.pipe, a.loop_units = v.loop, a.sm_count = sms_, a.tiled_weights = v.tiled;
    if (v.tiled) a.w_qkv = w_tiled_.get();
    // Validation run on poisoned outputs; kv_valid = pos (the op leaves pos + 1, which it clamps to pos).
    for (const DevArray<__half>* o : {&q_, &kc_, &vc_, &x_hist_})
      DV_CUDA_CHECK(cudaMemsetAsync(o->get(), 0xFF, o->size() * sizeof(__half), st));
    launch_kv_valid_fill(valid_.get(), s_.heads, hd_, kPos, st);
    launch_sparse_qkv(a, st);
    DV_CUDA_CHECK(cudaStreamSynchronize(st));
    const std::vector<__half> q = q_.download(B * d_);
    SampleCheck check;
    for (const int h : checked) {
      const HeadRef r = ref_head(h, B, v.ln);
      for (int b = 0; b < B; ++b) {
        const size_t bh = static_cast<size_t>(b) * s_.heads + h, at = (bh * kMaxLen + kPos) * hd_;
        const std::vector<__half> kg = download(kc_.get() + at, hd_), vg = download(vc_.get() + at, hd_);
        for (int j = 0; j < hd_; ++j) {
          check.add(__half2float(q[bh * hd_ + j]), __half2float(r.q[b * hd_ + j]));
          check.add(__half2float(kg[j]), __half2float(r.k[b * hd_ + j]));
          check.add(__half2float(vg[j]), __half2float(r.v[b * hd_ + j]));
        }
        const std::vector<__half> xh = download(x_hist_.get() + (b * kSparseQkvRing + kPos % kSparseQkvRing) * d_, d_);
        for (size_t c = h; c < d_; c += d_ / kSamples + 1)
          check.add(__half2float(xh[c]), __half2float(r.x_hist[b * d_ + c]));
      }
    }
    BenchRow row = make_row(s_, B, density, k, v.op);
    row.t = time_op(cfg_.timer, [&] { launch_sparse_qkv(a, st); });
    row.bytes = {{"w_qkv_heads", 6.0 * k * hd_ * d_}, {"x", 2.0 * B * d_}, {"x_hist_row", 2.0 * B * d_},
                 {"qkv_out", 6.0 * k * B * hd_}};
    if (v.all_kv) {  // + K/V of the heads not selected
      row.bytes.push_back({"w_kv_other_heads", 4.0 * (s_.heads - k) * hd_ * d_});
      row.bytes.push_back({"kv_out_other_heads", 4.0 * (s_.heads - k) * B * hd_});
    }
    if (v.ln) row.bytes.push_back({"gamma_beta", 4.0 * d_});
    row.speedup = dense_us / row.t.median_us;
    row.note = fmt::format("heads {}/{}, hd {}; speedup x density {:.2f} (1 = the dense time scaled by density)", k,
                           s_.heads, hd_, row.speedup * density);
    if (v.partials) {
      row.bytes.push_back({"ln_row_partials", 8.0 * B * col_blocks_});
      row.note += "; statistics from the row partials (8 bytes a 512-column slice and row, per unit from L2)";
    } else if (v.ln) {
      row.note += fmt::format("; statistics re-read x per unit from L2 ({:.0f} bytes, not counted)",
                              2.0 * B * d_ * 3 * k * hd_ / kSparseQkvSlotRows);
    }
    mark(row, check);
    finish_row(row, cfg_.copy_gbps);
    return row;
  }

  // Head h's rows are 3 hd h .. 3 hd h + 3 hd - 1 of w_qkv [3d, d]; checked against ReLU of the reference's q/k/v.
  BenchRow rowdot_row(int B, double density, const std::vector<int>& sel, const std::vector<int>& checked,
                      double dense_us) {
    const int k = static_cast<int>(sel.size()), rows = 3 * hd_ * k;
    std::vector<int> idx;
    for (const int h : sel) for (int r = 0; r < 3 * hd_; ++r) idx.push_back(3 * hd_ * h + r);
    rows_.upload(idx);
    kernels::SparseMlpUpArgs a;
    a.h = out_.get(), a.x = x_.get(), a.w1 = w_.get(), a.b1 = b_.get(), a.idx = rows_.get();
    a.B = B, a.d = s_.d, a.ffn = 3 * s_.d, a.max_k = rows, a.ld_h = rows;
    const cudaStream_t st = cfg_.timer.stream;
    DV_CUDA_CHECK(cudaMemsetAsync(out_.get(), 0xFF, static_cast<size_t>(B) * rows * sizeof(__half), st));  // poison
    kernels::launch_sparse_mlp_up(a, st);
    DV_CUDA_CHECK(cudaStreamSynchronize(st));
    const std::vector<__half> out = out_.download(static_cast<size_t>(B) * rows);
    SampleCheck check;
    for (const int h : checked) {
      const HeadRef r = ref_head(h, B, false);
      const int slot = static_cast<int>(std::lower_bound(sel.begin(), sel.end(), h) - sel.begin());
      for_each_ref_value(r, B, hd_, [&](int b, int part, int j, float want) {
        check.add(__half2float(out[static_cast<size_t>(b) * rows + (slot * 3 + part) * hd_ + j]), std::max(0.f, want));
      });
    }
    BenchRow row = make_row(s_, B, density, k, "qkv_rows_rowdot");
    row.t = time_op(cfg_.timer, [&] { kernels::launch_sparse_mlp_up(a, st); });
    row.bytes = {{"w_qkv_heads", 6.0 * k * hd_ * d_}, {"x", 2.0 * B * d_}, {"idx", 4.0 * rows}, {"out", 2.0 * B * rows}};
    row.speedup = dense_us / row.t.median_us;
    row.note = fmt::format("heads {}/{}: row_dot (bias + ReLU) over their {} rows; a diagnostic", k, s_.heads, rows);
    mark(row, check);
    finish_row(row, cfg_.copy_gbps);
    return row;
  }

  const OptShape& s_;
  const QkvBenchConfig& cfg_;
  BenchTensors T_;
  const int hd_;
  const size_t bmax_, d_;
  DevArray<__half> w_, w_tiled_, b_, x_, gamma_, beta_, q_, kc_, vc_, x_hist_, out_;  // w_tiled_: +tiled's
  const int col_blocks_;        // 512-column slices of a row (the row partials' count)
  DevArray<float> partials_;    // [col_blocks][B][2] row partials of x (the +ln_partials variant)
  DevArray<int> valid_, heads_, count_, pos_, rows_;  // rows_: the selected heads' rows (qkv_rows_rowdot)
  std::vector<__half> gamma_h_, beta_h_;  // the layer norm's weights, for the reference
  int sms_ = 0;                           // the device's multiprocessors (the +loop variants' grid)
};

}  // namespace

void bench_qkv(const OptShape& s, const QkvBenchConfig& cfg, cublasHandle_t cublas, std::vector<BenchRow>& rows) {
  DV_CHECK(s.heads > 0 && s.d % s.heads == 0 && sparse_qkv_supports_head_dim(s.d / s.heads) && !cfg.batches.empty(),
           "bench_qkv: shape {} (d {}, heads {}) or its batches unsupported", s.name, s.d, s.heads);
  QkvShapeBench(s, cfg).run(cublas, rows);
}

void print_qkv_summary(const BenchRun& run) {
  std::vector<std::string> shapes;
  std::set<int> batches;
  std::set<double> densities;
  for (const BenchRow& r : run.rows) {
    if (r.op != kVariants[0].op) continue;
    if (std::find(shapes.begin(), shapes.end(), r.shape) == shapes.end()) shapes.push_back(r.shape);
    batches.insert(r.batch);
    densities.insert(r.density);
  }
  if (shapes.empty()) return;
  fmt::print("\n== sparse_qkv (steady state): us / % of copy bw / speedup over the dense cuBLAS QKV GEMM\n");
  fmt::print("  shape     B  dens |      dense      ");
  for (const Variant& v : kVariants) fmt::print("| {:>21} ", variant_name(v));
  fmt::print("\n");
  for (const std::string& s : shapes)
    for (int b : batches)
      for (double dn : densities) {
        const BenchRow* dense = find_row(run, s, b, -1, "dense_qkv");
        fmt::print("  {:<8} {:2} {:4.0f}% | {}", s, b, 100 * dn,
                   dense ? fmt::format("{:7.1f} {:3.0f}%    ", dense->t.median_us, dense->pct_copy) : "   -            ");
        for (const Variant& v : kVariants) {
          const BenchRow* r = find_row(run, s, b, dn, v.op);
          fmt::print("| {:>21} ", r ? fmt::format("{:6.1f} {:3.0f}% {:4.2f}x{}", r->t.median_us, r->pct_copy,
                                                  r->speedup, r->valid ? "" : " INVALID")
                                    : "-");
        }
        fmt::print("\n");
      }
}

}  // namespace dv::bench
