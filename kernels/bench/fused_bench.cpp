// fused_bench.cpp: the fused_mlp rows of kernel_bench (see fused_bench.h).
#include "kernels/bench/fused_bench.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include <fmt/format.h>

#include "kernels/bench/bench_validate.h"
#include "kernels/common/cuda_check.h"
#include "kernels/fused_mlp/fused_mlp.cuh"

namespace dv::bench {
namespace {

// After the stream's work: the bench stream is non-blocking, so a plain cudaMemcpy would not wait for it.
std::vector<__half> download(const __half* p, size_t n, cudaStream_t stream) {
  std::vector<__half> h(n);
  DV_CUDA_CHECK(cudaStreamSynchronize(stream));
  DV_CUDA_CHECK(cudaMemcpy(h.data(), p, n * sizeof(__half), cudaMemcpyDeviceToHost));
  return h;
}

// Every element of got against ref, by SampleCheck's rule.
SampleCheck compare_all(const std::vector<__half>& got, const std::vector<__half>& ref) {
  SampleCheck c;
  for (size_t i = 0; i < got.size(); ++i) c.add(__half2float(got[i]), __half2float(ref[i]));
  return c;
}

// x [B, d] normalized as layer_norm does (double statistics here), rounded to fp16.
std::vector<__half> normalized_x(const BenchTensors& T, int B) {
  std::vector<__half> xn(static_cast<size_t>(B) * T.d);
  for (int b = 0; b < B; ++b) {
    double mean = 0, var = 0;
    for (int c = 0; c < T.d; ++c) mean += T.x(b, c);
    mean /= T.d;
    for (int c = 0; c < T.d; ++c) var += (T.x(b, c) - mean) * (T.x(b, c) - mean);
    const double rstd = 1.0 / std::sqrt(var / T.d + 1e-5);
    for (int c = 0; c < T.d; ++c)
      xn[static_cast<size_t>(b) * T.d + c] =
          __float2half_rn(static_cast<float>((T.x(b, c) - mean) * rstd * T.gamma(c) + T.beta(c)));
  }
  return xn;
}

}  // namespace

FusedBench::FusedBench(const OptShape& s, const BenchTensors& T, const FusedBenchInputs& in, cudaStream_t stream)
    : s_(s), T_(T), in_(in) {
  int device = 0;
  DV_CUDA_CHECK(cudaGetDevice(&device));
  DV_CUDA_CHECK(cudaDeviceGetAttribute(&num_sms_, cudaDevAttrMultiProcessorCount, device));
  // Room for the ordered split sums' partials (the fused_ordered rows): no plan takes more units than two per
  // SM or one per slice cap of every neuron.
  const int max_units = std::max(2 * num_sms_, (s.ffn + dv::kernels::kFusedMlpSliceCap - 1) /
                                                   dv::kernels::kFusedMlpSliceCap);
  const size_t d = static_cast<size_t>(s.d), rows = 32 * d,
               ws = dv::kernels::fused_mlp_workspace_bytes(32, s.d, max_units);
  DV_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&gamma_), d * sizeof(__half)));
  DV_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&beta_), d * sizeof(__half)));
  DV_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&xn_), rows * sizeof(__half)));
  DV_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&out_ref_), rows * sizeof(__half)));
  DV_CUDA_CHECK(cudaMalloc(&workspace_, ws));
  DV_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&ident_), static_cast<size_t>(s.ffn) * sizeof(int)));
  std::vector<__half> g(d), b(d);
  for (int c = 0; c < s.d; ++c) {
    g[static_cast<size_t>(c)] = __float2half_rn(T.gamma(c));
    b[static_cast<size_t>(c)] = __float2half_rn(T.beta(c));
  }
  std::vector<int> all(static_cast<size_t>(s.ffn));
  std::iota(all.begin(), all.end(), 0);
  DV_CUDA_CHECK(cudaMemcpyAsync(gamma_, g.data(), d * sizeof(__half), cudaMemcpyHostToDevice, stream));
  DV_CUDA_CHECK(cudaMemcpyAsync(beta_, b.data(), d * sizeof(__half), cudaMemcpyHostToDevice, stream));
  DV_CUDA_CHECK(cudaMemcpyAsync(ident_, all.data(), all.size() * sizeof(int), cudaMemcpyHostToDevice, stream));
  DV_CUDA_CHECK(cudaMemsetAsync(workspace_, 0, ws, stream));  // once: every launch leaves it zero
  DV_CUDA_CHECK(cudaStreamSynchronize(stream));                // the host vectors die here
}

FusedBench::~FusedBench() {
  for (void* p : {static_cast<void*>(gamma_), static_cast<void*>(beta_), static_cast<void*>(xn_),
                  static_cast<void*>(out_ref_), workspace_, static_cast<void*>(ident_)})
    (void)cudaFree(p);
}

void FusedBench::run(const MlpBenchConfig& cfg, int B, double density, int k, const int* idx, const int* k_dev,
                     const std::vector<__half>& expect, double base_us, std::vector<BenchRow>& rows) {
  const cudaStream_t st = cfg.timer.stream;
  const bool dense = idx == nullptr;
  const size_t n_out = static_cast<size_t>(B) * s_.d;
  dv::kernels::FusedMlpArgs a;
  a.out = in_.out;
  a.workspace = workspace_;
  a.x = in_.x;
  a.w1 = in_.w1;
  a.b1 = in_.b1;
  a.w2t = in_.w2t;
  a.b2 = in_.b2;
  a.resid = in_.resid;
  a.idx = idx;
  a.k_dev = k_dev;
  a.B = B;
  a.d = s_.d;
  a.ffn = s_.ffn;
  a.max_k = k;
  a.num_sms = num_sms_;
  const dv::kernels::FusedMlpPlan plan = dv::kernels::plan_fused_mlp(B, s_.d, k, num_sms_);
  const std::string plan_note = fmt::format("units={} slice<={} (L2 only: {:.0f} bytes of fixed-point reductions)",
                                            plan.units, plan.slice_max, 8.0 * plan.units * B * s_.d);

  auto row_of = [&](const char* op) {
    BenchRow r;
    r.shape = s_.name;
    r.d = s_.d;
    r.ffn = s_.ffn;
    r.batch = B;
    r.density = density;
    r.k = k;
    r.op = op;
    const double wk = 2.0 * k * s_.d;
    r.bytes = {{"w1_rows", wk}, {"w2t_rows", wk}, {"b1", 2.0 * k}, {"x", 2.0 * B * s_.d}, {"b2", 2.0 * s_.d},
               {"resid", 2.0 * B * s_.d}, {"out", 2.0 * B * s_.d}};
    if (!dense) r.bytes.push_back({"idx", 4.0 * k});
    r.note = plan_note;
    return r;
  };
  auto finish = [&](BenchRow& r, const SampleCheck& check) {
    if (!check.ok()) {
      r.valid = false;
      r.note += "; INVALID: " + check.describe();
    }
    finish_row(r, cfg.copy_gbps);
    r.speedup = base_us / r.t.median_us;
    rows.push_back(r);
  };

  auto launch = [&] { dv::kernels::launch_fused_mlp(a, st); };
  // The ordered split sums (DEJAVU_SPLIT_SUM=ordered) first, so the last row stays the one the engine runs.
  a.ordered_sums = true;
  launch();
  const SampleCheck ordered_check = compare_all(download(in_.out, n_out, st), expect);
  BenchRow ordered = row_of(dense ? "dense_fused_ordered" : "fused_ordered");
  ordered.t = time_op(cfg.timer, launch);
  ordered.note = fmt::format("units={} slice<={} (L2 only: {:.0f} bytes of fp32 partials stored and read back)",
                             plan.units, plan.slice_max, 4.0 * plan.units * B * s_.d);
  finish(ordered, ordered_check);
  a.ordered_sums = false;
  launch();
  const std::vector<__half> got = download(in_.out, n_out, st);
  BenchRow plain = row_of(dense ? "dense_fused" : "fused");
  plain.t = time_op(cfg.timer, launch);
  finish(plain, compare_all(got, expect));

  if (!dv::kernels::fused_mlp_ln_fits(B, s_.d)) return;  // the engine normalizes first there: "fused" is its time
  const std::vector<__half> xn = normalized_x(T_, B);
  DV_CUDA_CHECK(cudaMemcpyAsync(xn_, xn.data(), n_out * sizeof(__half), cudaMemcpyHostToDevice, st));
  dv::kernels::FusedMlpArgs on_xn = a;
  on_xn.x = xn_;
  on_xn.out = out_ref_;
  dv::kernels::launch_fused_mlp(on_xn, st);
  a.gamma = gamma_;
  a.beta = beta_;
  launch();
  const SampleCheck ln_check = compare_all(download(in_.out, n_out, st), download(out_ref_, n_out, st));
  BenchRow ln = row_of(dense ? "dense_fused+ln" : "fused+ln");
  ln.bytes.push_back({"gamma_beta", 4.0 * s_.d});
  ln.t = time_op(cfg.timer, launch);
  finish(ln, ln_check);
}

}  // namespace dv::bench
