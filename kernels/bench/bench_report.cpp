// bench_report.cpp: JSON / CSV writers and the printed summary of kernel_bench.
#include "kernels/bench/bench_report.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "kernels/common/error.h"

namespace dv::bench {
namespace {

void write_atomically(const std::filesystem::path& path, const std::string& text) {
  const std::filesystem::path tmp = path.string() + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary);
    DV_CHECK(f.good(), "{}: cannot open for writing", tmp.string());
    f << text;
    DV_CHECK(f.good(), "{}: write failed", tmp.string());
  }
  std::filesystem::rename(tmp, path);
}

}  // namespace

const BenchRow* find_row(const BenchRun& run, const std::string& shape, int batch, double density,
                         const std::string& op) {
  for (const BenchRow& r : run.rows)
    if (r.shape == shape && r.batch == batch && r.op == op && (density < 0 || r.density == density)) return &r;
  return nullptr;
}

void finish_row(BenchRow& row, double copy_gbps) {
  row.bytes_total = 0;
  for (const auto& [name, b] : row.bytes) row.bytes_total += b;
  row.gbps = row.t.median_us > 0 ? row.bytes_total / (row.t.median_us * 1e-6) / 1e9 : 0;
  row.pct_copy = copy_gbps > 0 ? 100.0 * row.gbps / copy_gbps : 0;
}

void write_outputs(const BenchRun& run, const std::string& dir) {
  std::filesystem::create_directories(dir);
  nlohmann::json j;
  j["device"] = run.device;
  j["sms"] = run.sms;
  j["l2_bytes"] = run.l2_bytes;
  j["copy_gbps"] = run.copy_gbps;
  j["commit"] = run.commit;
  j["reps"] = run.reps;
  j["timing"] = "median of reps, CUDA events around the operation only, L2 flushed (read of 2x L2) before each";
  nlohmann::json rows = nlohmann::json::array();
  std::string csv =
      "shape,d,ffn,batch,density,k,op,median_us,min_us,p90_us,bytes_total,gbps,pct_copy,speedup_vs_dense,valid,"
      "bytes_terms,note\n";
  for (const BenchRow& r : run.rows) {
    nlohmann::json o;
    o["shape"] = r.shape;
    o["d"] = r.d;
    o["ffn"] = r.ffn;
    o["batch"] = r.batch;
    o["density"] = r.density;
    o["k"] = r.k;
    o["op"] = r.op;
    o["median_us"] = r.t.median_us;
    o["min_us"] = r.t.min_us;
    o["p90_us"] = r.t.p90_us;
    std::string terms;
    nlohmann::json b = nlohmann::json::object();
    for (const auto& [name, v] : r.bytes) {
      b[name] = v;
      terms += fmt::format("{}{}={:.0f}", terms.empty() ? "" : ";", name, v);
    }
    o["bytes"] = b;
    o["bytes_total"] = r.bytes_total;
    o["gbps"] = r.gbps;
    o["pct_copy"] = r.pct_copy;
    o["speedup_vs_dense"] = r.speedup;
    o["valid"] = r.valid;
    o["note"] = r.note;
    rows.push_back(o);
    csv += fmt::format("{},{},{},{},{},{},{},{:.3f},{:.3f},{:.3f},{:.0f},{:.1f},{:.1f},{:.3f},{},{},\"{}\"\n", r.shape,
                       r.d, r.ffn, r.batch, r.density, r.k, r.op, r.t.median_us, r.t.min_us, r.t.p90_us,
                       r.bytes_total, r.gbps, r.pct_copy, r.speedup, r.valid ? 1 : 0, terms, r.note);
  }
  j["rows"] = rows;
  const std::filesystem::path base(dir);
  write_atomically(base / "kernel_bench.json", j.dump(1) + "\n");
  write_atomically(base / "kernel_bench.csv", csv);
}

void print_summary(const BenchRun& run) {
  std::set<std::string> seen;
  std::vector<std::string> shapes;
  std::set<int> batch_set;
  std::set<double> density_set;
  for (const BenchRow& r : run.rows) {
    if (seen.insert(r.shape).second) shapes.push_back(r.shape);
    if (r.op == "up+down") {
      batch_set.insert(r.batch);
      density_set.insert(r.density);
    }
  }
  fmt::print("\n== kernel_bench on {} ({} SMs, L2 {} MB), copy bandwidth {:.0f} GB/s (read+write), commit {}\n",
             run.device, run.sms, run.l2_bytes >> 20, run.copy_gbps, run.commit);
  for (const std::string& s : shapes) {
    const int b1 = batch_set.count(1) ? 1 : (batch_set.empty() ? 1 : *batch_set.begin());
    const BenchRow* dense = find_row(run, s, b1, -1, "dense_fc1+fc2");
    fmt::print("\n{} batch {}: dense fc1+fc2 {:.1f} us ({:.0f}% of copy bw)\n", s, b1, dense ? dense->t.median_us : 0,
               dense ? dense->pct_copy : 0);
    // down: the fixed-point split sums; ordered: the ordered scheme (the engine's default for sparse_mlp_down);
    // +stats: ordered, also writing the layer-norm row partials (the residual flow's producer).
    fmt::print("  dens |   up us  %copy |  down us  %copy | ordered us %copy | +stats us |"
               " up+down us  %copy | speedup\n");
    for (double dn : density_set) {
      const BenchRow* up = find_row(run, s, b1, dn, "up");
      const BenchRow* down = find_row(run, s, b1, dn, "down");
      const BenchRow* ordered = find_row(run, s, b1, dn, "down_ordered");
      const BenchRow* stats = find_row(run, s, b1, dn, "down_ordered+stats");
      const BenchRow* pair = find_row(run, s, b1, dn, "up+down");
      if (!up || !down || !pair) continue;
      fmt::print("  {:3.0f}% | {:7.1f} {:5.0f}% | {:7.1f} {:5.0f}% | {:>16} | {:>9} | {:10.1f} {:5.0f}% | {:6.2f}x{}\n",
                 100 * dn, up->t.median_us, up->pct_copy, down->t.median_us, down->pct_copy,
                 ordered ? fmt::format("{:10.1f} {:4.0f}%", ordered->t.median_us, ordered->pct_copy) : "-",
                 stats ? fmt::format("{:9.1f}", stats->t.median_us) : "-", pair->t.median_us, pair->pct_copy,
                 pair->speedup,
                 (up->valid && down->valid && (!ordered || ordered->valid) && (!stats || stats->valid))
                     ? ""
                     : "  INVALID");
    }
    fmt::print("  speedup of up+down over dense, by batch (columns) and density (rows):\n        ");
    for (int b : batch_set) fmt::print("{:>7}", b);
    fmt::print("\n");
    for (double dn : density_set) {
      fmt::print("  {:4.0f}% ", 100 * dn);
      for (int b : batch_set) {
        const BenchRow* pair = find_row(run, s, b, dn, "up+down");
        fmt::print("{:>7}", pair ? fmt::format("{:.2f}", pair->speedup) : "-");
      }
      fmt::print("\n");
    }
    // fused_mlp as the engine runs it (the LN fused where x fits the op's shared memory).
    auto fused_row = [&](int b, double dn, const char* op) {
      const BenchRow* r = find_row(run, s, b, dn, std::string(op) + "+ln");
      return r != nullptr ? r : find_row(run, s, b, dn, op);
    };
    fmt::print("  fused_mlp: us, % of copy bw, speedup (dense: over cuBLAS fc1+fc2; sparse: over up+down)\n");
    for (int b : batch_set) {
      const BenchRow* fd = fused_row(b, 1.0, "dense_fused");
      fmt::print("  B={:<2} dense {}", b,
                 fd ? fmt::format("{:7.1f} {:3.0f}% {:5.2f}x{}", fd->t.median_us, fd->pct_copy, fd->speedup,
                                  fd->valid ? "" : " INVALID")
                    : std::string("      -"));
      for (double dn : density_set) {
        const BenchRow* f = fused_row(b, dn, "fused");
        if (f)
          fmt::print(" | {:3.0f}% {:6.1f} {:3.0f}% {:4.2f}x{}", 100 * dn, f->t.median_us, f->pct_copy, f->speedup,
                     f->valid ? "" : " INVALID");
      }
      fmt::print("\n");
    }
    const BenchRow* pred = find_row(run, s, b1, -1, "predictor");
    const BenchRow* sel = find_row(run, s, b1, -1, "select");
    if (pred && sel)
      fmt::print("  predictor ({}, top-k {}): {:.1f} us total ({:.0f}% of copy bw), select alone {:.1f} us\n",
                 pred->note, pred->k, pred->t.median_us, pred->pct_copy, sel->t.median_us);
  }
  int invalid = 0;
  for (const BenchRow& r : run.rows) invalid += r.valid ? 0 : 1;
  fmt::print("\n{} rows, {} failed validation{}\n", run.rows.size(), invalid, invalid ? "  <-- see CSV" : "");
}

}  // namespace dv::bench
