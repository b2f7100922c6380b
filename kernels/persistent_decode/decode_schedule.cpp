// decode_schedule.cpp: see decode_schedule.h.
#include "kernels/persistent_decode/decode_schedule.h"

#include <fmt/format.h>

#include <algorithm>

#include "kernels/common/error.h"

namespace dv::kernels {

std::string describe_schedule_op(const std::vector<ScheduleOp>& ops, int op) {
  if (op < 0 || op >= static_cast<int>(ops.size())) return fmt::format("op {} (none such)", op);
  const ScheduleOp& o = ops[op];
  return o.layer >= 0 ? fmt::format("{} (op {}, layer {})", o.name, op, o.layer) : fmt::format("{} (op {})", o.name, op);
}

DecodeSchedule build_decode_schedule(const std::vector<ScheduleOp>& ops, int num_ctas, int side_ctas) {
  DV_CHECK(num_ctas >= 1, "persistent schedule: {} CTAs", num_ctas);
  DV_CHECK(side_ctas >= 0 && side_ctas < num_ctas, "persistent schedule: {} side CTAs of {}", side_ctas, num_ctas);
  const int n_ops = static_cast<int>(ops.size());
  DecodeSchedule s;
  s.num_ctas = num_ctas;
  std::vector<std::vector<PersistentInstruction>> lists(num_ctas);
  // A group of CTAs [first, first + count) and its cursor: the main group, and the side group if any.
  struct Group {
    int first, count, cursor;
  };
  Group main_group{side_ctas, num_ctas - side_ctas, 0}, side_group{0, side_ctas, 0};
  for (int o = 0; o < n_ops; ++o) {
    const ScheduleOp& op = ops[o];
    DV_CHECK(op.units >= 0, "persistent schedule: {} has {} units", describe_schedule_op(ops, o), op.units);
    PersistentOpHeader h;
    h.kind = op.kind;
    h.units = op.units;
    h.index_begin = static_cast<int>(s.deps.size());
    for (int d : op.index_deps) {
      DV_CHECK(d >= 0 && d < o, "persistent schedule: {} waits for the selection of {}, not an earlier op",
               describe_schedule_op(ops, o), describe_schedule_op(ops, d));
      s.deps.push_back(d);
    }
    h.input_begin = static_cast<int>(s.deps.size());
    for (int d : op.input_deps) {
      DV_CHECK(d >= 0 && d < o, "persistent schedule: {} waits for the output of {}, not an earlier op",
               describe_schedule_op(ops, o), describe_schedule_op(ops, d));
      s.deps.push_back(d);
    }
    h.input_end = static_cast<int>(s.deps.size());
    s.headers.push_back(h);

    Group& g = op.side && side_ctas > 0 ? side_group : main_group;
    auto list = [&](int i) -> std::vector<PersistentInstruction>& { return lists[g.first + (g.cursor + i) % g.count]; };
    if (op.dynamic && op.units >= g.count) {
      for (int i = 0; i < g.count; ++i) list(i).push_back({o, kDynamicUnits, g.count});
    } else if (op.units >= g.count) {
      const int base = op.units / g.count, extra = op.units % g.count;
      int begin = 0;
      for (int i = 0; i < g.count; ++i) {
        const int n = base + (i < extra ? 1 : 0);
        list(i).push_back({o, begin, begin + n});
        begin += n;
      }
      g.cursor = (g.cursor + extra) % g.count;
    } else {
      for (int u = 0; u < op.units; ++u) list(u).push_back({o, u, u + 1});
      g.cursor = (g.cursor + op.units) % g.count;
    }
  }
  s.cta_first.push_back(0);
  for (const auto& l : lists) {
    s.instructions.insert(s.instructions.end(), l.begin(), l.end());
    s.cta_first.push_back(static_cast<int>(s.instructions.size()));
  }
  return s;
}

void check_decode_schedule(const std::vector<ScheduleOp>& ops, const DecodeSchedule& s) {
  const int n_ops = static_cast<int>(ops.size());
  DV_CHECK(static_cast<int>(s.headers.size()) == n_ops, "persistent schedule: {} headers for {} ops",
           s.headers.size(), n_ops);
  DV_CHECK(static_cast<int>(s.cta_first.size()) == s.num_ctas + 1 && s.cta_first.front() == 0 &&
               s.cta_first.back() == static_cast<int>(s.instructions.size()),
           "persistent schedule: CTA list bounds do not cover the {} instructions", s.instructions.size());
  for (int o = 0; o < n_ops; ++o) {
    const PersistentOpHeader& h = s.headers[o];
    DV_CHECK(h.units == ops[o].units && h.index_begin <= h.input_begin && h.input_begin <= h.input_end &&
                 h.input_end <= static_cast<int>(s.deps.size()),
             "persistent schedule: header of {} does not match the op", describe_schedule_op(ops, o));
    for (int i = h.index_begin; i < h.input_end; ++i)
      DV_CHECK(s.deps[i] >= 0 && s.deps[i] < o, "persistent schedule: {} waits for {}, which is not earlier",
               describe_schedule_op(ops, o), describe_schedule_op(ops, s.deps[i]));
  }
  std::vector<std::vector<int>> runs(n_ops);
  for (int o = 0; o < n_ops; ++o) runs[o].assign(ops[o].units, 0);
  std::vector<int> sharers(n_ops, 0), dynamic(n_ops, 0);  // a dynamic op: its unit_end, its instructions
  for (int c = 0; c < s.num_ctas; ++c) {
    DV_CHECK(s.cta_first[c] <= s.cta_first[c + 1], "persistent schedule: CTA {} has a negative list", c);
    int last = -1;
    for (int i = s.cta_first[c]; i < s.cta_first[c + 1]; ++i) {
      const PersistentInstruction& in = s.instructions[i];
      DV_CHECK(in.op >= 0 && in.op < n_ops, "persistent schedule: CTA {} runs op {} of {}", c, in.op, n_ops);
      DV_CHECK(in.op >= last, "persistent schedule: CTA {} runs {} after {} (lists must keep the op order)", c,
               describe_schedule_op(ops, in.op), describe_schedule_op(ops, last));
      if (in.unit_begin == kDynamicUnits) {
        DV_CHECK(in.op != last && ops[in.op].units >= 1 && in.unit_end >= 1 &&
                     (sharers[in.op] == 0 || sharers[in.op] == in.unit_end),
                 "persistent schedule: CTA {} has a dynamic instruction of {} shared by {} CTAs (twice in its "
                 "list, no units, or another count)", c, describe_schedule_op(ops, in.op), in.unit_end);
        sharers[in.op] = in.unit_end;
        ++dynamic[in.op];
        last = in.op;
        continue;
      }
      last = in.op;
      DV_CHECK(in.unit_begin >= 0 && in.unit_begin < in.unit_end && in.unit_end <= ops[in.op].units,
               "persistent schedule: CTA {} runs units [{}, {}) of {} with {} units", c, in.unit_begin, in.unit_end,
               describe_schedule_op(ops, in.op), ops[in.op].units);
      for (int u = in.unit_begin; u < in.unit_end; ++u) ++runs[in.op][u];
    }
  }
  for (int o = 0; o < n_ops; ++o) {
    if (dynamic[o] > 0) {
      DV_CHECK(dynamic[o] == sharers[o] && std::count(runs[o].begin(), runs[o].end(), 0) == ops[o].units,
               "persistent schedule: {} is dynamic on {} CTAs where its instructions say {}, or has static units too",
               describe_schedule_op(ops, o), dynamic[o], sharers[o]);
      continue;
    }
    for (int u = 0; u < ops[o].units; ++u)
      DV_CHECK(runs[o][u] == 1, "persistent schedule: unit {} of {} runs {} times", u, describe_schedule_op(ops, o),
               runs[o][u]);
  }
}

}  // namespace dv::kernels
