// bench_outputs.h: what `dejavu bench` and the bench stage of `dejavu run` write and print for a
// BenchReport: one line per row as it is measured, bench.json (device, options, notes, rows) and bench.csv
// (one schema, the BenchRow), both atomically, and bench.png through scripts/plot_bench.py. CUDA builds only.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "engine/cuda/decode_bench.h"

namespace dv::cli {

void print_bench_row(const engine::BenchRow& row);
// Device line and notes on stdout; then bench.json (with `options` as given), bench.csv and the plot in out.
void write_bench_outputs(const engine::BenchReport& report, const nlohmann::json& options, const std::string& out);
// Rows of `more` appended to `into` (one report from a model bench and a random-shape sweep).
void append_bench_rows(engine::BenchReport& into, const engine::BenchReport& more);

}  // namespace dv::cli
