// bench_report.h: kernel_bench's result rows and their three outputs: JSON (everything, with the run's
// context), CSV (one row per timed operation, bytes term by term), and the short tables printed last.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "kernels/bench/bench_timer.h"

namespace dv::bench {

struct BenchRow {
  std::string shape;
  int d = 0;
  int ffn = 0;
  int batch = 0;
  double density = 0;  // fraction of ffn selected (1 for dense rows)
  int k = 0;
  std::string op;      // up, down, up+down, fused(+ln), dense_fc1, dense_fc2, dense_fc1+fc2, dense_fused(+ln),
                       // predictor, predictor-int8, select
  Timing t;
  std::vector<std::pair<std::string, double>> bytes;  // bytes that must move, term by term
  double bytes_total = 0;
  double gbps = 0;           // bytes_total / median time
  double pct_copy = 0;       // gbps / measured copy bandwidth
  double speedup = 0;        // matching dense time / this time (sparse rows), else 0
  bool valid = true;         // sampled outputs matched the reference
  std::string note;
};

struct BenchRun {
  std::string device;
  int sms = 0;
  size_t l2_bytes = 0;
  double copy_gbps = 0;
  std::string commit;
  int reps = 0;
  std::vector<BenchRow> rows;
};

// The first row of this shape, batch, op and density (density < 0: any), or nullptr.
const BenchRow* find_row(const BenchRun& run, const std::string& shape, int batch, double density,
                         const std::string& op);

// Fills bytes_total, gbps and pct_copy from bytes and t.
void finish_row(BenchRow& row, double copy_gbps);

// Writes DIR/kernel_bench.json and DIR/kernel_bench.csv (each to a temp name, then renamed).
void write_outputs(const BenchRun& run, const std::string& dir);

// Per shape: batch-1 table (times, GB/s, % of copy, speedup per density) and the speedup of up+down over
// dense fc1+fc2 for every batch and density.
void print_summary(const BenchRun& run);

}  // namespace dv::bench
