// persistent_op_bench.cpp: one decode op alone, timed as its own kernels (launch_decode_op: one CTA a unit, PDL, the
// op's code under a plain launch) and inside the persistent decode kernel (a schedule of that op only, both load
// policies, launched with the op's own shared memory instead of the largest op's (what a larger L1 buys; the
// default since session 16), and the same ops with no waits between them (each CTA streams its units of the 8 copies
// back to back: the kernel's pace with the dependency hops and the ops' tails taken away). Session
// 14's traces found the persistent path's ops slower than the same ops alone (opt-13b on the H200: sparse_mlp_down
// as W_o 28.8 us a layer, as fc2 29.8, where the RowGemvOp up projection reads the same 21 MB in 13.2). This asks
// whether an op is slower inside the kernel by itself (its noinline call under 128 registers, 96 KB of shared memory
// a CTA, the load policy) or only beside the step's other ops. Each measurement is a chain of --copies copies of the
// op on their own weights (together past the L2), each copy waiting for the previous one (the next kernel under PDL;
// the previous op's counter in the persistent kernel), the L2 flushed before each chain; per-op time = chain /
// copies, bytes / time against the copy bandwidth measured first. Random weights and selections: timing only, no
// validation (the kernel tests and the engine suites hold these ops against their references). Exit 2 on a
// dv::Error.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "kernels/bench/bench_device.cuh"
#include "kernels/bench/bench_tensors.h"
#include "kernels/bench/bench_timer.h"
#include "kernels/bench/dev_array.h"
#include "kernels/common/build_info.h"
#include "kernels/common/cuda_check.h"
#include "kernels/persistent_decode/decode_op_launch.h"
#include "kernels/persistent_decode/decode_schedule.h"
#include "kernels/persistent_decode/persistent_decode.cuh"

namespace {

using dv::bench::DevArray;
using namespace dv::kernels;

// The ops of one chain: their table entries and what they read, all device memory owned here.
struct Chain {
  std::string name;
  DecodeOpKind kind = DecodeOpKind::kRowGemv;
  std::vector<DecodeOpParams> ops;
  double bytes_per_op = 0;  // weights + selection + inputs read, outputs written
  std::vector<std::unique_ptr<DevArray<__half>>> halves;
  std::vector<std::unique_ptr<DevArray<int>>> ints;
  std::vector<std::unique_ptr<DevArray<unsigned char>>> bytes;

  __half* half_array(size_t n, uint64_t seed, cudaStream_t s) {
    halves.push_back(std::make_unique<DevArray<__half>>(n));
    dv::bench::fill_hashed(halves.back()->get(), n, seed, 0.05f, s);
    return halves.back()->get();
  }
  int* int_array(const std::vector<int>& v) {
    ints.push_back(std::make_unique<DevArray<int>>(v.size()));
    ints.back()->upload(v);
    return ints.back()->get();
  }
  void* zero_bytes(size_t n) {
    bytes.push_back(std::make_unique<DevArray<unsigned char>>(n));
    bytes.back()->zero();
    return bytes.back()->get();
  }
};

// sparse_mlp_down as the persistent path plans it (units_per_cta units a CTA: 1, the default since session 16, or 2
// under DEJAVU_PERSISTENT_DOWN_UNITS=2): W_o over `k` of `heads` heads (rows_per_index = hd), or the MLP's down
// projection over k of ffn rows (rows_per_index = 1).
Chain down_chain(const std::string& name, int d, int n_index, int k, int rows_per_index, int units_per_cta,
                 int copies, int ctas, cudaStream_t s, std::mt19937& rng) {
  Chain c;
  c.name = name;
  c.kind = DecodeOpKind::kOutProj;
  const int rows = n_index * rows_per_index;
  const SparseMlpDownPlan plan = plan_sparse_mlp_down(1, d, k, rows_per_index, units_per_cta * ctas, true);
  for (int i = 0; i < copies; ++i) {
    PersistentOutProj o;
    o.a.B = 1;
    o.a.d = d;
    o.a.ffn_rows = rows;
    o.a.max_k = k;
    o.a.ld_h = k * rows_per_index;  // compact activations (the split MLP's layout; W_o's heads are compact too)
    o.a.rows_per_index = rows_per_index;
    o.a.ordered_sums = true;  // the engine's default split sums (engine/cuda/split_sum.h)
    o.a.w2t = c.half_array(static_cast<size_t>(rows) * d, 100 + i, s);
    o.a.h = c.half_array(static_cast<size_t>(o.a.ld_h), 200 + i, s);
    o.a.idx = c.int_array(dv::bench::random_selection(n_index, k, rng));
    o.a.out = c.half_array(d, 300 + i, s);
    o.a.resid = c.half_array(d, 400 + i, s);
    o.a.workspace = c.zero_bytes(std::max<size_t>(plan.workspace_bytes, 16));
    o.col_blocks = plan.col_blocks;
    o.splits = plan.splits;
    c.ops.emplace_back(o);
  }
  c.bytes_per_op = 2.0 * k * rows_per_index * (d + 1) + 2.0 * 3 * d;
  return c;
}

// RowGemvOp over k selected rows of [n, K] (bias, ReLU, compact out): the split MLP's up projection.
Chain up_chain(const std::string& name, int K, int n, int k, int copies, cudaStream_t s, std::mt19937& rng) {
  Chain c;
  c.name = name;
  c.kind = DecodeOpKind::kRowGemv;
  for (int i = 0; i < copies; ++i) {
    RowGemvOp r;
    r.w = c.half_array(static_cast<size_t>(n) * K, 500 + i, s);
    r.x = c.half_array(K, 600 + i, s);
    r.idx = c.int_array(dv::bench::random_selection(n, k, rng));
    r.max_rows = k;
    r.B = 1;
    r.K = K;
    r.ldx = K;
    r.bias = c.half_array(n, 700 + i, s);
    r.relu = true;
    r.out = c.half_array(k, 800 + i, s);
    r.ld_out = k;
    r.compact = true;
    c.ops.emplace_back(r);
  }
  c.bytes_per_op = 2.0 * k * (K + 2) + 4.0 * k + 2.0 * K;
  return c;
}

// The chain as one persistent schedule (chained: op i waits for op i - 1; else no op waits for another) and
// everything a launch needs.
class PersistentChain {
 public:
  PersistentChain(const Chain& c, int ctas, bool chained) : ctas_(ctas) {
    std::vector<ScheduleOp> ops(c.ops.size());
    for (size_t i = 0; i < ops.size(); ++i) {
      ops[i].name = c.name;
      ops[i].layer = static_cast<int>(i);
      ops[i].kind = static_cast<int>(c.kind);
      ops[i].units = decode_op_units(c.kind, c.ops[i]);
      if (i > 0 && chained) ops[i].input_deps = {static_cast<int>(i) - 1};
      check_decode_op(c.kind, c.ops[i]);
    }
    sched_ = build_decode_schedule(ops, ctas);
    check_decode_schedule(ops, sched_);
    plan_smem_bytes_ = decode_schedule_smem_bytes(sched_.headers);
    table_ = upload(c.ops);
    headers_ = upload(sched_.headers);
    deps_ = upload(sched_.deps.empty() ? std::vector<int>{0} : sched_.deps);
    instructions_ = upload(sched_.instructions);
    cta_first_ = upload(sched_.cta_first);
    counters_ = std::make_unique<DevArray<unsigned long long>>(2 * ops.size());  // then the grab counters
    counters_->zero();
    control_ = std::make_unique<DevArray<PersistentControl>>(1);
    control_->zero();
    pos_ = std::make_unique<DevArray<int>>(2);
    pos_->zero();
    DV_CUDA_CHECK(cudaHostAlloc(reinterpret_cast<void**>(&error_host_), sizeof(PersistentError), cudaHostAllocMapped));
    *error_host_ = PersistentError{};
    DV_CUDA_CHECK(cudaHostGetDevicePointer(reinterpret_cast<void**>(&error_dev_), error_host_, 0));
  }
  ~PersistentChain() {
    if (error_host_ != nullptr) (void)cudaFreeHost(error_host_);
  }

  // plan_smem: launched with the chain's op kind's shared memory, not the largest op's (DEJAVU_PERSISTENT_SMEM).
  void launch(bool l1_inputs, cudaStream_t s, bool plan_smem = false) const {
    PersistentDecodeParams p;
    p.wait.headers = reinterpret_cast<const PersistentOpHeader*>(headers_->get());
    p.wait.deps = reinterpret_cast<const int*>(deps_->get());
    p.wait.counters = counters_->get();
    p.wait.grabs = counters_->get() + counters_->size() / 2;
    p.wait.control = control_->get();
    p.wait.error = error_dev_;
    p.wait.watchdog_ns = 2000000000LL;
    p.ops = reinterpret_cast<const DecodeOpParams*>(table_->get());
    p.instructions = reinterpret_cast<const PersistentInstruction*>(instructions_->get());
    p.cta_first = reinterpret_cast<const int*>(cta_first_->get());
    p.pos = pos_->get();
    p.positions = pos_->get() + 1;
    p.batch = 1;
    p.smem_bytes = plan_smem ? plan_smem_bytes_ : 0;
    launch_persistent_decode(p, ctas_, s, l1_inputs);
  }
  void check() const {
    DV_CHECK(*reinterpret_cast<volatile int*>(&error_host_->flag) == 0,
             "persistent_op_bench: the watchdog stopped a chain (op {} waiting for op {})", error_host_->op,
             error_host_->dep);
  }

 private:
  template <class T>
  static std::unique_ptr<DevArray<unsigned char>> upload(const std::vector<T>& v) {
    auto a = std::make_unique<DevArray<unsigned char>>(v.size() * sizeof(T));
    DV_CUDA_CHECK(cudaMemcpy(a->get(), v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice));
    return a;
  }

  int ctas_;
  DecodeSchedule sched_;
  int plan_smem_bytes_ = 0;  // the chain's op kind's shared memory (decode_schedule_smem_bytes), computed once
  std::unique_ptr<DevArray<unsigned char>> table_, headers_, deps_, instructions_, cta_first_;
  std::unique_ptr<DevArray<unsigned long long>> counters_;
  std::unique_ptr<DevArray<PersistentControl>> control_;
  std::unique_ptr<DevArray<int>> pos_;
  PersistentError* error_host_ = nullptr;
  PersistentError* error_dev_ = nullptr;
};

int run(int argc, char** argv) {
  CLI::App app{"persistent_op_bench: decode ops alone, as their own kernels and inside the persistent kernel"};
  int copies = 8, reps = 30, warmup = 3;
  std::vector<std::string> only;
  app.add_option("--copies", copies, "ops in a chain, each on its own weights")->check(CLI::Range(1, 64));
  app.add_option("--reps", reps, "timed chains (median reported)")->check(CLI::Range(3, 1000));
  app.add_option("--warmup", warmup, "untimed chains first")->check(CLI::Range(0, 100));
  app.add_option("--only", only, "time only the chains whose name contains one of these texts (e.g. under ncu)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  cudaDeviceProp prop{};
  DV_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
  cudaStream_t s;
  DV_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  const int ctas = prop.multiProcessorCount * persistent_decode_ctas_per_sm();
  const double copy_gbps = dv::bench::measure_copy_gbps(size_t{1} << 30, 10, s);
  std::printf("%s: %d SMs, %d persistent CTAs; copy %.0f GB/s (read + write); commit %s\n", prop.name,
              prop.multiProcessorCount, ctas, copy_gbps, dv::build_commit());

  const size_t flush_bytes = 2 * static_cast<size_t>(prop.l2CacheSize);
  DevArray<unsigned char> flush(flush_bytes);
  DevArray<unsigned> sink(1);
  flush.zero();
  dv::bench::TimerConfig tc{s, flush.get(), flush_bytes, sink.get(), warmup, reps};

  std::mt19937 rng(14);
  // opt-13b (d 5120, 40 heads of 128, ffn 20480) at the goals' densities, and opt-66b's MLP (d 9216, ffn 36864).
  // (opt-66b: 10 % of ffn rounded up to a multiple of 8, as sparse_mlp_down needs ld_h % 4 == 0.)
  std::vector<Chain> chains;
  chains.push_back(down_chain("opt-13b W_o, heads 50%", 5120, 40, 20, 128, 2, copies, ctas, s, rng));
  chains.push_back(down_chain("opt-13b W_o, 1 unit/CTA", 5120, 40, 20, 128, 1, copies, ctas, s, rng));
  chains.push_back(down_chain("opt-13b fc2 (down), MLP 10%", 5120, 20480, 2048, 1, 2, copies, ctas, s, rng));
  chains.push_back(down_chain("opt-13b fc2, 1 unit/CTA", 5120, 20480, 2048, 1, 1, copies, ctas, s, rng));
  chains.push_back(up_chain("opt-13b fc1 (up), MLP 10%", 5120, 20480, 2048, copies, s, rng));
  chains.push_back(down_chain("opt-66b fc2 (down), MLP 10%", 9216, 36864, 3688, 1, 2, copies, ctas, s, rng));
  chains.push_back(down_chain("opt-66b fc2, 1 unit/CTA", 9216, 36864, 3688, 1, 1, copies, ctas, s, rng));
  chains.push_back(up_chain("opt-66b fc1 (up), MLP 10%", 9216, 36864, 3688, copies, s, rng));
  if (!only.empty()) {
    auto unwanted = [&](const Chain& c) {
      return std::none_of(only.begin(), only.end(),
                          [&](const std::string& o) { return c.name.find(o) != std::string::npos; });
    };
    chains.erase(std::remove_if(chains.begin(), chains.end(), unwanted), chains.end());
    DV_CHECK(!chains.empty(), "persistent_op_bench: no chain's name contains any --only text");
  }
  DV_CUDA_CHECK(cudaDeviceSynchronize());

  std::printf("%-30s %7s | %18s | %18s | %18s | %18s | %18s | %s\n", "op (batch 1)", "MB/op", "own kernels us %cp",
              "persistent L2 us %cp", "persistent L1 us %cp", "L1 op's smem us %cp", "L1 no waits us %cp",
              "L1 / own");
  for (const Chain& c : chains) {
    const dv::bench::Timing own = dv::bench::time_op(tc, [&] {
      for (const DecodeOpParams& op : c.ops) launch_decode_op(c.kind, op, s);
    });
    const PersistentChain pc(c, ctas, true), free_ops(c, ctas, false);
    const dv::bench::Timing l2 = dv::bench::time_op(tc, [&] { pc.launch(false, s); });
    const dv::bench::Timing l1 = dv::bench::time_op(tc, [&] { pc.launch(true, s); });
    const dv::bench::Timing l1_smem = dv::bench::time_op(tc, [&] { pc.launch(true, s, true); });
    const dv::bench::Timing l1_free = dv::bench::time_op(tc, [&] { free_ops.launch(true, s, true); });
    DV_CUDA_CHECK(cudaStreamSynchronize(s));
    pc.check();
    free_ops.check();
    auto cell = [&](const dv::bench::Timing& t) {
      const double us = t.median_us / copies;
      return fmt::format("{:9.2f} {:6.1f}%", us, 100.0 * c.bytes_per_op / (us * 1e3) / (copy_gbps / 2));
    };
    std::printf("%-30s %7.1f | %18s | %18s | %18s | %18s | %18s | %.2f\n", c.name.c_str(), c.bytes_per_op / 1e6,
                cell(own).c_str(), cell(l2).c_str(), cell(l1).c_str(), cell(l1_smem).c_str(), cell(l1_free).c_str(),
                l1.median_us / own.median_us);
  }
  std::printf("%%cp: bytes / time against half the copy figure (a copy reads and writes each byte). Per op: the "
              "median chain of %d / %d.\n", copies, copies);
  DV_CUDA_CHECK(cudaStreamDestroy(s));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "persistent_op_bench: %s\n", e.what());
    return 2;
  }
}
