// decode_trace.cpp: see decode_trace.h.
#include "kernels/persistent_decode/decode_trace.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <map>

#include "kernels/common/error.h"

namespace dv::kernels {

StepTrace analyze_step_trace(const std::vector<ScheduleOp>& ops, const std::vector<PersistentOpTrace>& raw) {
  DV_CHECK(ops.size() == raw.size(), "persistent trace: {} op times for {} ops", raw.size(), ops.size());
  DV_CHECK(!ops.empty(), "persistent trace: no ops");
  unsigned long long t0 = std::numeric_limits<unsigned long long>::max();
  for (size_t o = 0; o < ops.size(); ++o) {
    if (ops[o].units == 0) continue;
    DV_CHECK(raw[o].start != ~0ull && raw[o].end != 0 && raw[o].end >= raw[o].start,
             "persistent trace: {} has no start / end in the traced launch (start {}, end {})",
             describe_schedule_op(ops, static_cast<int>(o)), raw[o].start, raw[o].end);
    t0 = std::min(t0, raw[o].start);
  }
  DV_CHECK(t0 != std::numeric_limits<unsigned long long>::max(), "persistent trace: no op has units");
  auto us = [&](unsigned long long ns) { return static_cast<double>(ns - t0) / 1000.0; };

  StepTrace t;
  std::vector<int> binding(ops.size(), -1);  // the dependency whose end made the op ready
  std::map<std::string, size_t> name_slot;
  for (size_t o = 0; o < ops.size(); ++o) {
    const ScheduleOp& op = ops[o];
    OpTiming m;
    m.op = static_cast<int>(o);
    m.name = op.name;
    m.layer = op.layer;
    m.units = op.units;
    for (const std::vector<int>* deps : {&op.index_deps, &op.input_deps})
      for (int d : *deps) {
        DV_CHECK(d >= 0 && d < static_cast<int>(o), "persistent trace: {} waits for op {}, not an earlier op",
                 describe_schedule_op(ops, static_cast<int>(o)), d);
        if (binding[o] < 0 || t.ops[d].end_us > m.ready_us) {
          m.ready_us = t.ops[d].end_us;
          binding[o] = d;
        }
      }
    if (op.units == 0) {
      m.start_us = m.end_us = m.ready_us;
    } else {
      m.start_us = us(raw[o].start);
      m.end_us = us(raw[o].end);
      m.busy_us = static_cast<double>(raw[o].busy) / 1000.0;
      DV_CHECK(m.end_us >= m.ready_us, "persistent trace: {} ended at {:.3f} us, before {} it waits for ({:.3f} us)",
               describe_schedule_op(ops, static_cast<int>(o)), m.end_us,
               describe_schedule_op(ops, binding[o]), m.ready_us);
    }
    m.run_us = m.end_us - std::max(m.start_us, m.ready_us);
    t.span_us = std::max(t.span_us, m.end_us);
    auto [it, fresh] = name_slot.emplace(op.name, t.by_name.size());
    if (fresh) t.by_name.push_back(OpNameTotal{op.name});
    OpNameTotal& n = t.by_name[it->second];
    ++n.ops;
    n.run_us += m.run_us;
    n.busy_us += m.busy_us;
    t.ops.push_back(std::move(m));
  }
  int last = 0;
  for (size_t o = 0; o < t.ops.size(); ++o)
    if (t.ops[o].end_us > t.ops[last].end_us) last = static_cast<int>(o);
  for (int o = last; o >= 0; o = binding[o]) {
    t.critical_path.push_back(o);
    t.critical_us += t.ops[o].run_us;
  }
  std::reverse(t.critical_path.begin(), t.critical_path.end());
  return t;
}

std::string step_trace_csv(const StepTrace& t) {
  std::vector<bool> critical(t.ops.size(), false);
  for (int o : t.critical_path) critical[o] = true;
  std::string out = "op,name,layer,units,start_us,ready_us,end_us,run_us,busy_us,critical\n";
  for (const OpTiming& m : t.ops)
    out += fmt::format("{},{},{},{},{:.3f},{:.3f},{:.3f},{:.3f},{:.3f},{}\n", m.op, m.name, m.layer, m.units,
                       m.start_us, m.ready_us, m.end_us, m.run_us, m.busy_us, critical[m.op] ? 1 : 0);
  return out;
}

std::string step_trace_summary(const StepTrace& t) {
  std::string out = fmt::format("step {:.1f} us; the dependency chain to the last op runs {:.1f} us of it ({} ops), "
                                "{:.1f} us with none of them running\n",
                                t.span_us, t.critical_us, t.critical_path.size(), t.span_us - t.critical_us);
  std::vector<OpNameTotal> by_run = t.by_name;
  std::stable_sort(by_run.begin(), by_run.end(),
                   [](const OpNameTotal& a, const OpNameTotal& b) { return a.run_us > b.run_us; });
  out += fmt::format("  {:<18} {:>5} {:>11} {:>9} {:>13}\n", "op", "count", "run us", "% span", "CTA-busy us");
  for (const OpNameTotal& n : by_run)
    out += fmt::format("  {:<18} {:>5} {:>11.1f} {:>8.1f}% {:>13.1f}\n", n.name, n.ops, n.run_us,
                       t.span_us > 0 ? 100.0 * n.run_us / t.span_us : 0.0, n.busy_us);
  return out;
}

}  // namespace dv::kernels
