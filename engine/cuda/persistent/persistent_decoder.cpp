// persistent_decoder.cpp: see persistent_decoder.h.
#include "engine/cuda/persistent/persistent_decoder.h"

#include <cstdlib>
#include <cstring>

#include "engine/cuda/step_switches.h"
#include "engine/cuda/tensor_ptr.h"
#include "kernels/common/cuda_check.h"
#include "kernels/persistent_decode/decode_op_launch.h"
#include "kernels/persistent_decode/persistent_decode.cuh"

namespace dv::engine {
namespace {

// A host vector of plain structs as a device byte tensor. Not at::zeros: its fill runs on torch's current
// stream, unordered with `stream` (non-blocking), so it could land after the copy; the copy writes every byte
// that is read (an empty vector's 16 bytes are never read).
template <class T>
at::Tensor upload_bytes(const std::vector<T>& v, cudaStream_t stream) {
  const size_t bytes = std::max<size_t>(v.size() * sizeof(T), 16);
  at::Tensor t = at::empty({static_cast<int64_t>(bytes)}, cuda_options(at::kByte));
  if (!v.empty())
    DV_CUDA_CHECK(cudaMemcpyAsync(t.data_ptr(), v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice, stream));
  return t;
}

long long watchdog_ms_from_env() {
  const char* env = std::getenv("DEJAVU_PERSISTENT_WATCHDOG_MS");
  if (env == nullptr || *env == '\0') return 1000;
  char* end = nullptr;
  const long long ms = std::strtoll(env, &end, 10);
  DV_CHECK(end != nullptr && *end == '\0' && ms > 0,
           "DEJAVU_PERSISTENT_WATCHDOG_MS = '{}': expected a positive number of milliseconds", env);
  return ms;
}

// The plan's ops as the schedule places them: with select CTAs only the select ops stay on the side; with dynamic
// units (DEJAVU_PERSISTENT_UNITS=dynamic) the layer's own ops are placed dynamically, the predictors' stay fixed
// (their many small units would pay a grab's round trip each for no late CTA to make up for).
std::vector<kernels::ScheduleOp> placed(std::vector<kernels::ScheduleOp> ops, bool select_only, bool dynamic) {
  using kernels::DecodeOpKind;
  for (kernels::ScheduleOp& o : ops) {
    const auto kind = static_cast<DecodeOpKind>(o.kind);
    const bool predictor = kind == DecodeOpKind::kPredictorZ || kind == DecodeOpKind::kPredictorScores ||
                           kind == DecodeOpKind::kPredictorSelect;
    if (select_only) o.side = kind == DecodeOpKind::kPredictorSelect;
    o.dynamic = dynamic && !predictor;
  }
  return ops;
}

}  // namespace

PersistentDecoder::CtaSplit PersistentDecoder::split_ctas(const EngineContext& ctx, const SparseState* sparse) {
  CtaSplit s;
  s.all = ctx.num_sms() * kernels::persistent_decode_ctas_per_sm();
  if (sparse == nullptr || sparse->tasks.empty()) return s;  // no predictor ops to set aside
  const int all_ops = persistent_side_ctas(s.all), select = persistent_select_ctas(s.all);
  DV_CHECK(all_ops == 0 || select == 0, "DEJAVU_PERSISTENT_SIDE_CTAS ({}) and DEJAVU_PERSISTENT_SELECT_CTAS ({}): "
           "set at most one", all_ops, select);
  s.side = all_ops + select;
  s.select_only = select > 0;
  return s;
}

PersistentDecoder::PersistentDecoder(const EngineContext& ctx, const GpuWeights& weights, DecodeBuffers& buffers,
                                     const SparseState* sparse)
    : ctas_(split_ctas(ctx, sparse)),
      buffers_(weights, buffers.batch, buffers.max_len, sparse, ctas_.main()),
      plan_(plan_persistent_step(weights, buffers, sparse, buffers_, ctas_.main())),
      schedule_(kernels::build_decode_schedule(placed(plan_.ops, ctas_.select_only, persistent_dynamic_units()),
                                               ctas_.all, ctas_.side)),
      pos_(int_ptr(buffers.pos)),
      positions_(int_ptr(buffers.positions)), batch_(buffers.batch), watchdog_ms_(watchdog_ms_from_env()),
      l1_inputs_(persistent_l1_loads()) {
  kernels::check_decode_schedule(plan_.ops, schedule_);
  if (persistent_plan_smem()) smem_bytes_ = kernels::decode_schedule_smem_bytes(schedule_.headers);
  for (size_t o = 0; o < plan_.ops.size(); ++o) {
    try {
      kernels::check_decode_op(static_cast<kernels::DecodeOpKind>(plan_.ops[o].kind), plan_.params[o]);
    } catch (const Error& e) {
      DV_FAIL("persistent decode: {}: {}", kernels::describe_schedule_op(plan_.ops, static_cast<int>(o)), e.what());
    }
  }
  const cudaStream_t s = ctx.main();
  ops_dev_ = upload_bytes(plan_.params, s);
  headers_dev_ = upload_bytes(schedule_.headers, s);
  deps_dev_ = upload_bytes(schedule_.deps, s);
  instructions_dev_ = upload_bytes(schedule_.instructions, s);
  cta_first_dev_ = upload_bytes(schedule_.cta_first, s);
  // The ops' counters, then their grab counters (dynamic instructions, persistent_types.h): one zero fill for both.
  counters_ = at::zeros({2 * static_cast<int64_t>(std::max<size_t>(plan_.ops.size(), 1))}, cuda_options(at::kLong));
  control_ = upload_bytes(std::vector<kernels::PersistentControl>(1), s);
  DV_CUDA_CHECK(cudaHostAlloc(reinterpret_cast<void**>(&error_host_), sizeof(kernels::PersistentError),
                              cudaHostAllocMapped));
  *error_host_ = kernels::PersistentError{};
  DV_CUDA_CHECK(cudaHostGetDevicePointer(reinterpret_cast<void**>(&error_dev_), error_host_, 0));
  // The host vectors behind the uploads may go now; and the at::zeros fills of counters_ and buffers_ (torch's
  // current stream, which the non-blocking main stream does not wait for) are done before the first launch.
  DV_CUDA_CHECK(cudaDeviceSynchronize());
}

PersistentDecoder::~PersistentDecoder() {
  if (error_host_ != nullptr) (void)cudaFreeHost(error_host_);
}

bool PersistentDecoder::failed() const {
  return *reinterpret_cast<volatile int*>(&error_host_->flag) != 0;
}

void PersistentDecoder::check() const {
  if (!failed()) return;
  const volatile kernels::PersistentError* e = error_host_;
  const int op = e->op, dep = e->dep;
  const unsigned long long units = dep >= 0 && dep < static_cast<int>(plan_.ops.size()) ? plan_.ops[dep].units : 0;
  DV_FAIL("persistent decode: watchdog: unit {} of {} waited more than {} ms for the counter of {} ({} of {} units "
          "done in step {} of this schedule; wanted {}); the kernel was stopped (reset() recovers)",
          e->unit, kernels::describe_schedule_op(plan_.ops, op), watchdog_ms_,
          kernels::describe_schedule_op(plan_.ops, dep), e->seen - e->epoch * units, units, e->epoch,
          e->target - e->epoch * units);
}

void PersistentDecoder::recover(cudaStream_t stream) {
  DV_CUDA_CHECK(cudaStreamSynchronize(stream));
  DV_CUDA_CHECK(cudaMemsetAsync(counters_.data_ptr(), 0, counters_.nbytes(), stream));
  DV_CUDA_CHECK(cudaMemsetAsync(control_.data_ptr(), 0, control_.nbytes(), stream));
  DV_CUDA_CHECK(cudaMemsetAsync(buffers_.argmax.data_ptr(), 0, buffers_.argmax.nbytes(), stream));
  // A stopped step can leave split-op scratch half written: the arrival counters and workspaces restart at 0.
  DV_CUDA_CHECK(cudaMemsetAsync(buffers_.workspace.data_ptr(), 0, buffers_.workspace.nbytes(), stream));
  DV_CUDA_CHECK(cudaMemsetAsync(buffers_.tickets.data_ptr(), 0, buffers_.tickets.nbytes(), stream));
  DV_CUDA_CHECK(cudaMemsetAsync(buffers_.pred_workspace.data_ptr(), 0, buffers_.pred_workspace.nbytes(), stream));
  DV_CUDA_CHECK(cudaStreamSynchronize(stream));
  *error_host_ = kernels::PersistentError{};
  stuck_op_ = -1;
}

void PersistentDecoder::set_trace(bool on) {
  if (!on) {
    trace_ = at::Tensor();
    return;
  }
  trace_init_.assign(plan_.ops.size(), kernels::PersistentOpTrace{});
  trace_ = at::empty({static_cast<int64_t>(trace_init_.size() * sizeof(kernels::PersistentOpTrace))},
                     cuda_options(at::kByte));
}

std::vector<kernels::PersistentOpTrace> PersistentDecoder::read_trace(cudaStream_t stream) const {
  DV_CHECK(trace_.defined(), "persistent decode: read_trace() without set_trace(true)");
  std::vector<kernels::PersistentOpTrace> out(trace_init_.size());
  DV_CUDA_CHECK(cudaStreamSynchronize(stream));
  DV_CUDA_CHECK(cudaMemcpy(out.data(), trace_.data_ptr(), out.size() * sizeof(kernels::PersistentOpTrace),
                           cudaMemcpyDeviceToHost));
  return out;
}

void PersistentDecoder::enqueue(cudaStream_t stream) {
  check();
  kernels::PersistentDecodeParams p;
  if (trace_.defined()) {
    DV_CUDA_CHECK(cudaMemcpyAsync(trace_.data_ptr(), trace_init_.data(),
                                  trace_init_.size() * sizeof(kernels::PersistentOpTrace), cudaMemcpyHostToDevice,
                                  stream));
    p.trace = reinterpret_cast<kernels::PersistentOpTrace*>(trace_.data_ptr());
  }
  p.wait.headers = reinterpret_cast<const kernels::PersistentOpHeader*>(headers_dev_.data_ptr());
  p.wait.deps = reinterpret_cast<const int*>(deps_dev_.data_ptr());
  p.wait.counters = reinterpret_cast<unsigned long long*>(counters_.data_ptr());
  p.wait.grabs = p.wait.counters + counters_.numel() / 2;
  p.wait.control = reinterpret_cast<kernels::PersistentControl*>(control_.data_ptr());
  p.wait.error = error_dev_;
  p.wait.watchdog_ns = watchdog_ms_ * 1000000LL;
  p.wait.stuck_op = stuck_op_;
  p.ops = reinterpret_cast<const kernels::DecodeOpParams*>(ops_dev_.data_ptr());
  p.instructions = reinterpret_cast<const kernels::PersistentInstruction*>(instructions_dev_.data_ptr());
  p.cta_first = reinterpret_cast<const int*>(cta_first_dev_.data_ptr());
  p.pos = pos_;
  p.positions = positions_;
  p.batch = batch_;
  p.smem_bytes = smem_bytes_;
  kernels::launch_persistent_decode(p, schedule_.num_ctas, stream, l1_inputs_);
}

}  // namespace dv::engine
