// predictor_bench.cpp: kernel_bench's predictor rows (see predictor_bench.h). Weights come from bench_tensors.h
// (Wa, Wb hashed on the device; the int8 copies quantized on the host by the reference rule); x is the MLP
// bench's hashed input. Bytes are the must-move terms; z partials, scores and histograms live in L2.
#include "kernels/bench/predictor_bench.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <string>

#include <fmt/format.h>

#include "kernels/bench/bench_device.cuh"
#include "kernels/bench/bench_tensors.h"
#include "kernels/bench/bench_validate.h"
#include "kernels/bench/dev_array.h"
#include "kernels/common/cuda_check.h"
#include "kernels/lowrank_predictor/lowrank_predictor.cuh"
#include "kernels/lowrank_predictor/lowrank_predictor_ref.h"

namespace dv::bench {
namespace {

constexpr int kMaxBatch = 32;

// One predictor variant to time: implementation, weight dtype and batch union.
struct Variant {
  const char* op;
  bool chain;
  bool int8;
  kernels::BatchUnion batch_union;
};

const Variant kVariants[] = {
    {"predictor-chain", true, false, kernels::BatchUnion::kMaxLogit},
    {"predictor-chain-int8", true, true, kernels::BatchUnion::kMaxLogit},
    {"predictor", false, false, kernels::BatchUnion::kMaxLogit},
    {"predictor-int8", false, true, kernels::BatchUnion::kMaxLogit},
    {"predictor-per-row", false, false, kernels::BatchUnion::kPerRow},
};

// Host copies of the int8 weights (quantize_rows_int8_ref of the hashed fp16 weights) and their device twins.
struct Int8Weights {
  std::vector<int8_t> qa, qb;
  std::vector<float> sa, sb;
  DevArray<int8_t> d_qa, d_qb;
  DevArray<float> d_sa, d_sb;
  Int8Weights(const BenchTensors& T)
      : qa(static_cast<size_t>(T.r) * T.d), qb(static_cast<size_t>(T.ffn) * T.r), sa(static_cast<size_t>(T.r)),
        sb(static_cast<size_t>(T.ffn)), d_qa(qa.size()), d_qb(qb.size()), d_sa(sa.size()), d_sb(sb.size()) {
    std::vector<float> w(qa.size());
    for (int i = 0; i < T.r; ++i)
      for (int c = 0; c < T.d; ++c) w[static_cast<size_t>(i) * T.d + c] = T.wa(i, c);
    kernels::quantize_rows_int8_ref(w.data(), T.r, T.d, qa.data(), sa.data());
    w.assign(qb.size(), 0.f);
    for (int j = 0; j < T.ffn; ++j)
      for (int i = 0; i < T.r; ++i) w[static_cast<size_t>(j) * T.r + i] = T.wb(j, i);
    kernels::quantize_rows_int8_ref(w.data(), T.ffn, T.r, qb.data(), sb.data());
    d_qa.upload(qa);
    d_qb.upload(qb);
    d_sa.upload(sa);
    d_sb.upload(sb);
  }
};

void mark(BenchRow& row, const SampleCheck& check, const char* what) {
  if (check.ok()) return;
  row.valid = false;
  row.note += fmt::format("; INVALID {}: {}", what, check.describe());
}


}  // namespace

void bench_predictor(const OptShape& s, const PredictorBenchConfig& cfg, std::vector<BenchRow>& rows) {
  const cudaStream_t st = cfg.timer.stream;
  BenchTensors T;
  T.d = s.d;
  T.ffn = s.ffn;
  T.r = cfg.rank;
  const size_t dsz = static_cast<size_t>(s.d), fsz = static_cast<size_t>(s.ffn), rsz = static_cast<size_t>(T.r);
  const int kp = std::clamp(static_cast<int>(std::lround(cfg.density * s.ffn)), 1, s.ffn);
  const int ld = kernels::lowrank_scores_ld(s.ffn);
  DevArray<__half> x(kMaxBatch * dsz), wa(rsz * dsz), wb(fsz * rsz), z(kMaxBatch * rsz);
  DevArray<float> scores(kMaxBatch * static_cast<size_t>(ld));
  DevArray<int> idx(fsz), k_dev(1);
  size_t ws_bytes = 16, part_floats = 1;
  for (const int B : cfg.batches) {
    ws_bytes = std::max(ws_bytes, kernels::lowrank_predictor_workspace_bytes(B, s.d, T.r, s.ffn));
    part_floats = std::max(part_floats, kernels::lowrank_predictor_partials_floats(B, s.d, T.r));
  }
  DevArray<char> ws(ws_bytes);
  DevArray<float> z_part(part_floats);
  fill_hashed(x.get(), kMaxBatch * dsz, BenchTensors::kX, 1.f, st);
  fill_hashed(wa.get(), rsz * dsz, BenchTensors::kWa, T.wa_scale(), st);
  fill_hashed(wb.get(), fsz * rsz, BenchTensors::kWb, T.wb_scale(), st);
  DV_CUDA_CHECK(cudaStreamSynchronize(st));
  ws.zero();  // once: every launch leaves its counters and histograms at zero
  const Int8Weights q(T);
  std::mt19937_64 check_rng(std::hash<std::string>{}(s.name) ^ 0x51ull);

  for (const int B : cfg.batches) {
    std::string progress = fmt::format("{} B={} predictor r={}:", s.name, B, T.r);
    for (const Variant& v : kVariants) {
      if (v.batch_union == kernels::BatchUnion::kPerRow && B == 1) continue;  // the same as the max union
      const int sel_rows = kernels::lowrank_selection_rows(B, kernels::SelectMode::kTopK, v.batch_union);
      kernels::LowrankPredictorArgs a;
      a.idx = idx.get();
      a.k_dev = k_dev.get();
      a.scores = scores.get();
      a.z = z.get();
      a.workspace = ws.get();
      a.z_partials = z_part.get();
      a.x = x.get();
      if (v.int8) {
        a.wa_i8 = q.d_qa.get();
        a.wa_scale = q.d_sa.get();
        a.wb_i8 = q.d_qb.get();
        a.wb_scale = q.d_sb.get();
      } else {
        a.wa = wa.get();
        a.wb = wb.get();
      }
      a.B = B;
      a.d = s.d;
      a.r = T.r;
      a.n = s.ffn;
      a.top_k = kp;
      a.max_k = s.ffn;
      a.batch_union = v.batch_union;
      auto run = [&] {
        if (v.chain) {
          kernels::launch_lowrank_predictor_chain(a, st);
        } else {
          kernels::launch_lowrank_predictor(a, st);
        }
      };
      run();
      DV_CUDA_CHECK(cudaStreamSynchronize(st));
      BenchRow row = make_row(s, B, cfg.density, kp, v.op);
      row.note = fmt::format("r={}", T.r);
      // z and scores on samples against double sums over the weights this variant read.
      const std::vector<__half> zh = z.download(static_cast<size_t>(B) * rsz);
      const std::vector<float> sc = scores.download(static_cast<size_t>(sel_rows) * ld);
      auto wa_at = [&](int i, int c) {
        return v.int8 ? static_cast<double>(q.sa[i]) * q.qa[static_cast<size_t>(i) * dsz + c] : T.wa(i, c);
      };
      auto wb_at = [&](int j, int i) {
        return v.int8 ? static_cast<double>(q.sb[j]) * q.qb[static_cast<size_t>(j) * rsz + i] : T.wb(j, i);
      };
      SampleCheck cz, cs;
      std::uniform_int_distribution<int> pb(0, B - 1), pi(0, T.r - 1), pj(0, s.ffn - 1);
      for (int n = 0; n < kSamples / 2; ++n) {
        const int b = pb(check_rng), i = pi(check_rng), j = pj(check_rng);
        double acc = 0;
        for (int c = 0; c < s.d; ++c) acc += wa_at(i, c) * T.x(b, c);
        cz.add(__half2float(zh[static_cast<size_t>(b) * rsz + i]), acc);
        double best = -INFINITY;
        for (int bb = 0; bb < B; ++bb) {
          double dot = 0;
          for (int k = 0; k < T.r; ++k) dot += wb_at(j, k) * __half2float(zh[static_cast<size_t>(bb) * rsz + k]);
          if (sel_rows > 1 && bb == b) cs.add(sc[static_cast<size_t>(b) * ld + j], dot);
          best = std::max(best, dot);
        }
        if (sel_rows == 1) cs.add(sc[static_cast<size_t>(j)], best);
      }
      mark(row, cz, "z");
      mark(row, cs, "scores");
      // The selection must equal the reference selection over the same scores, exactly.
      std::vector<int> ref_idx(fsz);
      int ref_k = 0;
      kernels::LowrankSelectArgs ra = kernels::lowrank_selection_of(a);
      ra.idx = ref_idx.data();
      ra.k_dev = &ref_k;
      ra.scores = sc.data();
      kernels::lowrank_select_ref(ra);
      const int got_k = k_dev.download(1)[0];
      const std::vector<int> got = idx.download(static_cast<size_t>(std::clamp(got_k, 0, s.ffn)));
      if (got_k != ref_k || !std::equal(got.begin(), got.end(), ref_idx.begin())) {
        row.valid = false;
        row.note += fmt::format("; INVALID selection: k {} vs ref {}", got_k, ref_k);
      }
      row.t = time_op(cfg.timer, run);
      const double wbytes = v.int8 ? 1.0 : 2.0;
      row.bytes = {{"wa", wbytes * T.r * s.d}, {"wb", wbytes * s.ffn * T.r}, {"x", 2.0 * B * s.d},
                   {"z", 4.0 * B * T.r}, {"scores", 8.0 * sel_rows * s.ffn}, {"idx", 4.0 * got_k}};
      if (v.int8) row.bytes.push_back({"scales", 4.0 * (T.r + s.ffn)});
      finish_row(row, cfg.copy_gbps);
      rows.push_back(row);
      progress += fmt::format(" {} {:.1f} us{}", v.op, row.t.median_us, row.valid ? "" : " INVALID");
    }
    if (B == cfg.batches.front()) {
      // The new selection alone (histogram + select) over the last scores, for the per-stage picture.
      kernels::LowrankSelectArgs sa;
      sa.idx = idx.get();
      sa.k_dev = k_dev.get();
      sa.scores = scores.get();
      sa.workspace = ws.get();
      sa.n = s.ffn;
      sa.top_k = kp;
      sa.max_k = s.ffn;
      BenchRow rsel = make_row(s, B, cfg.density, kp, "select");
      rsel.t = time_op(cfg.timer, [&] { kernels::launch_lowrank_select(sa, st); });
      rsel.bytes = {{"scores", 8.0 * s.ffn}, {"idx", 4.0 * kp}};
      finish_row(rsel, cfg.copy_gbps);
      rows.push_back(rsel);
      progress += fmt::format(" select {:.1f} us", rsel.t.median_us);
    }
    fmt::print("{}\n", progress);
    std::fflush(stdout);
  }
}

void print_predictor_summary(const BenchRun& run) {
  std::map<std::string, std::set<int>> batches;
  for (const BenchRow& r : run.rows)
    if (r.op.rfind("predictor", 0) == 0) batches[r.shape].insert(r.batch);
  for (const auto& [shape, bs] : batches) {
    fmt::print("\n{} predictor (r, top-k as in the rows' notes): us (% of copy bw)\n", shape);
    fmt::print("  {:>5} |", "B");
    for (const Variant& v : kVariants) fmt::print(" {:>22}", v.op);
    fmt::print(" | ops vs chain\n");
    for (int b : bs) {
      fmt::print("  {:>5} |", b);
      double chain = 0, ops = 0;
      for (const Variant& v : kVariants) {
        const BenchRow* row = nullptr;
        for (const BenchRow& r : run.rows)
          if (r.shape == shape && r.batch == b && r.op == v.op) row = &r;
        if (row == nullptr) {
          fmt::print(" {:>22}", "-");
          continue;
        }
        fmt::print(" {:>22}", fmt::format("{:.1f} ({:.0f}%){}", row->t.median_us, row->pct_copy,
                                          row->valid ? "" : " INVALID"));
        if (std::string(v.op) == "predictor-chain") chain = row->t.median_us;
        if (std::string(v.op) == "predictor") ops = row->t.median_us;
      }
      fmt::print(" | {}\n", ops > 0 ? fmt::format("{:.2f}x", chain / ops) : "-");
    }
  }
}

}  // namespace dv::bench
