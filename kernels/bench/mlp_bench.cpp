// mlp_bench.cpp: per-shape driver of kernel_bench's MLP rows (see mlp_bench.h; the fused_mlp rows are
// fused_bench.cpp's, the predictor's predictor_bench.cpp's).
// All tensors are generated on the device from bench_tensors.h; idx is a random selection of k = density * ffn
// neurons, ascending like the predictor's output unless --unsorted. The dense baseline is cuBLAS GemmEx (fp16 in/out, fp32 compute) of
// fc1 and fc2 alone: no bias, ReLU or residual kernels, which favours dense.
#include "kernels/bench/mlp_bench.h"

#include <algorithm>
#include <cmath>
#include <random>

#include <fmt/format.h>

#include "kernels/bench/bench_device.cuh"
#include "kernels/bench/bench_tensors.h"
#include "kernels/bench/bench_validate.h"
#include "kernels/bench/dev_array.h"
#include "kernels/bench/fused_bench.h"
#include "kernels/common/cuda_check.h"
#include "kernels/sparse_mlp_down/sparse_mlp_down.cuh"
#include "kernels/sparse_mlp_down/sparse_mlp_down_ref.h"
#include "kernels/sparse_mlp_up/sparse_mlp_up.cuh"

namespace dv::bench {
namespace {

constexpr int kMaxBatch = 32;

void mark(BenchRow& row, const SampleCheck& check) {
  row.valid = row.valid && check.ok();
  if (!check.ok()) row.note += (row.note.empty() ? "" : "; ") + std::string("INVALID: ") + check.describe();
}

}  // namespace

BenchRow make_row(const OptShape& s, int B, double density, int k, const std::string& op) {
  BenchRow r;
  r.shape = s.name;
  r.d = s.d;
  r.ffn = s.ffn;
  r.batch = B;
  r.density = density;
  r.k = k;
  r.op = op;
  return r;
}

const std::vector<OptShape>& opt_shapes() {
  static const std::vector<OptShape> shapes = {{"opt-1.3b", 2048, 8192, 32},
                                               {"opt-6.7b", 4096, 16384, 32},
                                               {"opt-13b", 5120, 20480, 40},
                                               {"opt-30b", 7168, 28672, 56},
                                               {"opt-66b", 9216, 36864, 72}};
  return shapes;
}

void bench_shape(const OptShape& s, const MlpBenchConfig& cfg, cublasHandle_t cublas, std::vector<BenchRow>& rows) {
  const cudaStream_t st = cfg.timer.stream;
  BenchTensors T;
  T.d = s.d;
  T.ffn = s.ffn;
  const size_t dsz = static_cast<size_t>(s.d), fsz = static_cast<size_t>(s.ffn);
  const int ld_h = (s.ffn + 7) / 8 * 8;

  DevArray<__half> w1(fsz * dsz), b1(fsz), w2t(fsz * dsz), w2(fsz * dsz), b2(dsz), x(kMaxBatch * dsz),
      resid(kMaxBatch * dsz), h(kMaxBatch * static_cast<size_t>(ld_h)), out(kMaxBatch * dsz),
      Hd(kMaxBatch * fsz), Od(kMaxBatch * dsz);
  DevArray<int> idx(fsz), k_dev(1);
  const int col_blocks = dv::kernels::plan_sparse_mlp_down(1, s.d, 1, 1).col_blocks;
  DevArray<float> partials(2 * kMaxBatch * static_cast<size_t>(col_blocks));  // down_ordered+stats' row_partials
  FusedBench fused(s, T, {x.get(), w1.get(), b1.get(), w2t.get(), b2.get(), resid.get(), out.get()}, st);
  fill_hashed(w1.get(), fsz * dsz, BenchTensors::kW1, T.w1_scale(), st);
  fill_hashed(b1.get(), fsz, BenchTensors::kB1, 0.1f, st);
  fill_hashed(w2t.get(), fsz * dsz, BenchTensors::kW2T, T.w2_scale(), st);
  fill_hashed_transposed(w2.get(), s.ffn, s.d, BenchTensors::kW2T, T.w2_scale(), st);
  fill_hashed(b2.get(), dsz, BenchTensors::kB2, 0.1f, st);
  fill_hashed(x.get(), kMaxBatch * dsz, BenchTensors::kX, 1.f, st);
  fill_hashed(resid.get(), kMaxBatch * dsz, BenchTensors::kResid, 1.f, st);

  // Sized for the ordered split sums (down_ordered rows), which hold the fixed scheme's area.
  size_t ws_bytes = 16;
  for (int B : cfg.batches)  // the identity selection of the dense fused rows' reference
    ws_bytes = std::max(ws_bytes, dv::kernels::sparse_mlp_down_workspace_bytes(B, s.d, s.ffn, 1, 0, true));
  for (int B : cfg.batches)
    for (double dn : cfg.densities)
      ws_bytes = std::max(ws_bytes, dv::kernels::sparse_mlp_down_workspace_bytes(
                                        B, s.d, std::clamp(static_cast<int>(std::lround(dn * s.ffn)), 1, s.ffn), 1,
                                        0, true));
  DevArray<unsigned char> ws(ws_bytes);
  DV_CUDA_CHECK(cudaMemsetAsync(ws.get(), 0, ws_bytes, st));  // once: the kernel leaves its zeroed part zero
  DV_CUDA_CHECK(cudaStreamSynchronize(st));

  std::mt19937_64 check_rng(std::hash<std::string>{}(s.name));
  const float one = 1.f, zero = 0.f;
  for (const int B : cfg.batches) {
    // ---- dense cuBLAS baseline: H = x W1^T ([B, ffn]), O = H W2^T ([B, d]), row-major via column-major ops.
    auto fc1 = [&] {
      DV_CUBLAS_CHECK(cublasGemmEx(cublas, CUBLAS_OP_T, CUBLAS_OP_N, s.ffn, B, s.d, &one, w1.get(), CUDA_R_16F, s.d,
                                   x.get(), CUDA_R_16F, s.d, &zero, Hd.get(), CUDA_R_16F, s.ffn, CUBLAS_COMPUTE_32F,
                                   CUBLAS_GEMM_DEFAULT));
    };
    auto fc2 = [&] {
      DV_CUBLAS_CHECK(cublasGemmEx(cublas, CUBLAS_OP_T, CUBLAS_OP_N, s.d, B, s.ffn, &one, w2.get(), CUDA_R_16F, s.ffn,
                                   Hd.get(), CUDA_R_16F, s.ffn, &zero, Od.get(), CUDA_R_16F, s.d, CUBLAS_COMPUTE_32F,
                                   CUBLAS_GEMM_DEFAULT));
    };
    fc1();
    fc2();
    DV_CUDA_CHECK(cudaStreamSynchronize(st));
    const std::vector<__half> Hh = Hd.download(static_cast<size_t>(B) * fsz);
    const SampleCheck c_fc1 = check_dense_fc1(T, Hh, B, check_rng);
    const SampleCheck c_fc2 = check_dense_fc2(T, Od.download(static_cast<size_t>(B) * dsz), Hh, B, check_rng);
    const double wbytes = 2.0 * s.ffn * s.d;
    BenchRow d1 = make_row(s, B, 1.0, s.ffn, "dense_fc1"), d2 = make_row(s, B, 1.0, s.ffn, "dense_fc2"),
             dp = make_row(s, B, 1.0, s.ffn, "dense_fc1+fc2");
    d1.t = time_op(cfg.timer, fc1);
    d1.bytes = {{"w1", wbytes}, {"x", 2.0 * B * s.d}, {"h_out", 2.0 * B * s.ffn}};
    d2.t = time_op(cfg.timer, fc2);
    d2.bytes = {{"w2", wbytes}, {"h_in", 2.0 * B * s.ffn}, {"out", 2.0 * B * s.d}};
    dp.t = time_op(cfg.timer, [&] { fc1(); fc2(); });
    dp.bytes = {{"w1", wbytes}, {"w2", wbytes}, {"x", 2.0 * B * s.d}, {"h_out", 2.0 * B * s.ffn},
                {"h_in", 2.0 * B * s.ffn}, {"out", 2.0 * B * s.d}};
    mark(d1, c_fc1);
    mark(d2, c_fc2);
    mark(dp, c_fc1);
    mark(dp, c_fc2);
    for (BenchRow* r : {&d1, &d2, &dp}) finish_row(*r, cfg.copy_gbps);
    rows.push_back(d1);
    rows.push_back(d2);
    rows.push_back(dp);
    std::string progress = fmt::format("{} B={}: dense {:.1f} us", s.name, B, dp.t.median_us);
    {
      // The dense MLP through fused_mlp, checked against up + down over the identity selection.
      dv::kernels::SparseMlpUpArgs ua;
      ua.h = h.get(), ua.x = x.get(), ua.w1 = w1.get(), ua.b1 = b1.get(), ua.idx = fused.identity();
      ua.B = B, ua.d = s.d, ua.ffn = s.ffn, ua.max_k = s.ffn, ua.ld_h = ld_h;
      dv::kernels::SparseMlpDownArgs da;
      da.out = out.get(), da.workspace = ws.get(), da.resid = resid.get(), da.b2 = b2.get(), da.h = h.get();
      da.w2t = w2t.get(), da.idx = fused.identity(), da.B = B, da.d = s.d, da.ffn_rows = s.ffn, da.max_k = s.ffn;
      da.ld_h = ld_h;
      dv::kernels::launch_sparse_mlp_up(ua, st);
      dv::kernels::launch_sparse_mlp_down(da, st);
      DV_CUDA_CHECK(cudaStreamSynchronize(st));
      const std::vector<__half> expect = out.download(static_cast<size_t>(B) * dsz);
      fused.run(cfg, B, 1.0, s.ffn, nullptr, nullptr, expect, dp.t.median_us, rows);
      progress += fmt::format(" ({} {:.1f} us)", rows.back().op, rows.back().t.median_us);
    }

    // ---- sparse up / down at each density.
    for (size_t di = 0; di < cfg.densities.size(); ++di) {
      const double density = cfg.densities[di];
      const int k = std::clamp(static_cast<int>(std::lround(density * s.ffn)), 1, s.ffn);
      std::mt19937_64 sel_rng(std::hash<std::string>{}(s.name) ^ (0x9E37ull * (di + 1)));
      const std::vector<int> sel = random_selection(s.ffn, k, sel_rng, !cfg.unsorted);
      idx.upload(sel);
      k_dev.upload({k});

      dv::kernels::SparseMlpUpArgs ua;
      ua.h = h.get();
      ua.x = x.get();
      ua.w1 = w1.get();
      ua.b1 = b1.get();
      ua.idx = idx.get();
      ua.k_dev = k_dev.get();
      ua.B = B;
      ua.d = s.d;
      ua.ffn = s.ffn;
      ua.max_k = k;
      ua.ld_h = ld_h;
      dv::kernels::SparseMlpDownArgs da;
      da.out = out.get();
      da.workspace = ws.get();
      da.resid = resid.get();
      da.b2 = b2.get();
      da.h = h.get();
      da.w2t = w2t.get();
      da.idx = idx.get();
      da.k_dev = k_dev.get();
      da.B = B;
      da.d = s.d;
      da.ffn_rows = s.ffn;
      da.max_k = k;
      da.ld_h = ld_h;
      auto up = [&] { dv::kernels::launch_sparse_mlp_up(ua, st); };
      auto down = [&] { dv::kernels::launch_sparse_mlp_down(da, st); };
      up();
      down();
      DV_CUDA_CHECK(cudaStreamSynchronize(st));
      const std::vector<__half> hh = h.download(static_cast<size_t>(B) * ld_h);
      const SampleCheck c_up = check_up(T, hh, ld_h, sel, k, B, check_rng);
      const std::vector<__half> out_h = out.download(static_cast<size_t>(B) * dsz);
      const SampleCheck c_down = check_down(T, out_h, hh, ld_h, sel, k, B, check_rng);

      const double wk = 2.0 * k * s.d;
      const int splits = dv::kernels::plan_sparse_mlp_down(B, s.d, k, 1).splits;
      BenchRow ru = make_row(s, B, density, k, "up"), rd = make_row(s, B, density, k, "down"),
               rp = make_row(s, B, density, k, "up+down");
      ru.t = time_op(cfg.timer, up);
      ru.bytes = {{"w1_rows", wk}, {"b1", 2.0 * k}, {"idx", 4.0 * k}, {"x", 2.0 * B * s.d}, {"h_out", 2.0 * B * k}};
      rd.t = time_op(cfg.timer, down);
      rd.bytes = {{"w2t_rows", wk}, {"h_in", 2.0 * B * k}, {"idx", 4.0 * k}, {"b2", 2.0 * s.d},
                  {"resid", 2.0 * B * s.d}, {"out", 2.0 * B * s.d}};
      rd.note = fmt::format("splits={} (L2 fixed-point reductions {:.0f} bytes, not counted)", splits,
                            splits > 1 ? 8.0 * splits * B * s.d : 0.0);
      // A variant of down (da as the caller set it): run once, its sampled outputs checked, then timed into r.
      auto checked_down = [&](BenchRow& r, std::vector<__half>* written = nullptr) {
        down();
        DV_CUDA_CHECK(cudaStreamSynchronize(st));
        const std::vector<__half> o = out.download(static_cast<size_t>(B) * dsz);
        const SampleCheck c = check_down(T, o, hh, ld_h, sel, k, B, check_rng);
        if (written != nullptr) *written = o;
        r.t = time_op(cfg.timer, down);
        return c;
      };
      // The same down with the ordered split sums (the engine's default for sparse_mlp_down), checked and timed
      // beside the fixed-point sums.
      BenchRow ro = make_row(s, B, density, k, "down_ordered");
      da.ordered_sums = true;
      const SampleCheck c_ordered = checked_down(ro);
      // ... also writing the layer-norm row partials of out (the residual flow's producer: row_partials), its
      // cost beside down_ordered; the partials checked against sums of the out it wrote.
      BenchRow rs = make_row(s, B, density, k, "down_ordered+stats");
      da.row_partials = partials.get();
      std::vector<__half> out_s;
      SampleCheck c_stats = checked_down(rs, &out_s);
      const std::vector<float> got_sums = partials.download(2 * static_cast<size_t>(B) * col_blocks);
      std::vector<float> want_sums(got_sums.size());
      dv::kernels::sparse_mlp_down_row_partials_ref(out_s.data(), B, s.d, want_sums.data());
      for (size_t i = 0; i < got_sums.size(); ++i) c_stats.add(got_sums[i], want_sums[i]);
      da.row_partials = nullptr;
      rs.bytes = rd.bytes;
      rs.bytes.push_back({"row_partials", 8.0 * B * col_blocks});
      ro.bytes = rd.bytes;
      ro.note = fmt::format("splits={} (L2 fp32 partials {:.0f} bytes stored and read back, not counted)", splits,
                            splits > 1 ? 4.0 * splits * B * s.d : 0.0);
      rs.note = ro.note;
      // The ordered down with fewer, longer units (SparseMlpDownArgs::target_units: one wave of two units an SM,
      // one unit an SM), each checked and timed beside the default plan's two waves.
      std::vector<BenchRow> variant_rows;
      for (const int units : {264, 132}) {
        BenchRow ru_t = make_row(s, B, density, k, fmt::format("down_ordered_u{}", units));
        da.target_units = units;
        mark(ru_t, checked_down(ru_t));
        ru_t.bytes = rd.bytes;
        ru_t.note = fmt::format("splits={} (target {} units)",
                                dv::kernels::plan_sparse_mlp_down(B, s.d, k, 1, units, true).splits, units);
        finish_row(ru_t, cfg.copy_gbps);
        ru_t.speedup = d2.t.median_us / ru_t.t.median_us;
        variant_rows.push_back(ru_t);
      }
      // The up projection software-pipelined (SparseMlpUpArgs::pipelined): checked on its samples and against
      // the default's h bit for bit, then timed beside `up` (after the down rows, which read the default's h).
      BenchRow rpipe = make_row(s, B, density, k, "up+pipe");
      ua.pipelined = true;
      up();
      DV_CUDA_CHECK(cudaStreamSynchronize(st));
      const std::vector<__half> h_pipe = h.download(static_cast<size_t>(B) * ld_h);
      mark(rpipe, check_up(T, h_pipe, ld_h, sel, k, B, check_rng));
      for (int b = 0; b < B && rpipe.valid; ++b)
        for (int j = 0; j < k; ++j)
          if (__half_raw(h_pipe[b * ld_h + j]).x != __half_raw(hh[b * ld_h + j]).x) {
            rpipe.valid = false;
            rpipe.note = fmt::format("INVALID: h[{}][{}] differs from the default's bits", b, j);
            break;
          }
      rpipe.t = time_op(cfg.timer, up);
      ua.pipelined = false;
      rpipe.bytes = ru.bytes;
      finish_row(rpipe, cfg.copy_gbps);
      rpipe.speedup = d1.t.median_us / rpipe.t.median_us;
      variant_rows.insert(variant_rows.begin(), rpipe);
      da.target_units = 0;  // up+down below runs the engine's down: ordered sums, the default plan
      rp.t = time_op(cfg.timer, [&] { up(); down(); });
      rp.bytes = ru.bytes;
      rp.bytes.insert(rp.bytes.end(), rd.bytes.begin(), rd.bytes.end());
      mark(ru, c_up);
      mark(rd, c_down);
      mark(ro, c_ordered);
      mark(rs, c_stats);
      mark(rp, c_up);
      mark(rp, c_down);
      for (BenchRow* r : {&ru, &rd, &ro, &rs, &rp}) finish_row(*r, cfg.copy_gbps);
      ru.speedup = d1.t.median_us / ru.t.median_us;
      rd.speedup = d2.t.median_us / rd.t.median_us;
      ro.speedup = d2.t.median_us / ro.t.median_us;
      rs.speedup = d2.t.median_us / rs.t.median_us;
      rp.speedup = dp.t.median_us / rp.t.median_us;
      rows.push_back(ru);
      rows.push_back(rd);
      rows.push_back(ro);
      rows.push_back(rs);
      rows.insert(rows.end(), variant_rows.begin(), variant_rows.end());
      rows.push_back(rp);
      fused.run(cfg, B, density, k, idx.get(), k_dev.get(), out_h, rp.t.median_us, rows);
      progress += fmt::format(
          ", {:.0f}%: {:.1f} us {:.2f}x (down {:.1f}, ordered {:.1f}, +stats {:.1f}), fused {:.1f} us{}",
          100 * density, rp.t.median_us, rp.speedup, rd.t.median_us, ro.t.median_us, rs.t.median_us,
          rows.back().t.median_us, rp.valid && ro.valid && rs.valid ? "" : " INVALID");
    }

    fmt::print("{}\n", progress);
    std::fflush(stdout);
  }
}

}  // namespace dv::bench
