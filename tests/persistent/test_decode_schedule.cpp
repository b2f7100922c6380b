// test_decode_schedule.cpp: the persistent decode kernel's instruction lists (decode_schedule.h) on step-like
// op lists and random ones: every unit in exactly one instruction, every CTA's list in op order, every wait on
// an earlier op, units spread evenly, and bad inputs refused. A simulation runs the lists as the kernel would
// (each CTA at its first unfinished instruction, waiting for whole ops) and must finish every unit: the
// deadlock-freedom argument of decode_schedule.h, checked by execution.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "kernels/common/error.h"
#include "kernels/persistent_decode/decode_schedule.h"

namespace dv::kernels {
namespace {

// A dense-step-like list: embed, then per layer ln, qkv, attention, out_proj, ln, fc1, fc2, then the head.
std::vector<ScheduleOp> step_like_ops(int layers, int wide_units) {
  std::vector<ScheduleOp> ops;
  auto add = [&](const std::string& name, int layer, int units, std::vector<int> deps) {
    ScheduleOp o;
    o.name = name;
    o.layer = layer;
    o.units = units;
    o.input_deps = std::move(deps);
    ops.push_back(o);
    return static_cast<int>(ops.size()) - 1;
  };
  int x = add("embed", -1, 3, {});
  for (int l = 0; l < layers; ++l) {
    const int ln = add("attn_ln", l, 3, {x});
    const int qkv = add("qkv", l, wide_units, {ln});
    const int at = add("attention", l, 17, {qkv});
    const int wo = add("out_proj", l, wide_units / 2 + 1, {at, x});
    const int ln2 = add("mlp_ln", l, 3, {wo});
    const int fc1 = add("fc1", l, 2 * wide_units + 5, {ln2});
    x = add("fc2", l, wide_units, {fc1, wo});
  }
  const int head = add("lm_head", -1, 3 * wide_units, {x});
  add("argmax", -1, 1, {head});
  return ops;
}

// Runs the lists as the kernel does: a CTA may run its next instruction when every op it waits for is done; at a
// dynamic instruction it runs one grabbed unit a turn and moves on once none is left. Returns the number of units
// that never ran.
int simulate(const std::vector<ScheduleOp>& ops, const DecodeSchedule& s, std::mt19937& rng) {
  std::vector<int> done(ops.size(), 0), grabbed(ops.size(), 0), next(s.num_ctas);
  for (int c = 0; c < s.num_ctas; ++c) next[c] = s.cta_first[c];
  for (bool progress = true; progress;) {
    progress = false;
    std::vector<int> order(s.num_ctas);
    for (int c = 0; c < s.num_ctas; ++c) order[c] = c;
    std::shuffle(order.begin(), order.end(), rng);
    for (int c : order) {
      if (next[c] == s.cta_first[c + 1]) continue;
      const PersistentInstruction& in = s.instructions[next[c]];
      const PersistentOpHeader& h = s.headers[in.op];
      bool ready = true;
      for (int i = h.index_begin; i < h.input_end; ++i) ready = ready && done[s.deps[i]] == ops[s.deps[i]].units;
      if (!ready) continue;
      if (in.unit_begin == kDynamicUnits && grabbed[in.op] < ops[in.op].units) {
        ++grabbed[in.op];
        ++done[in.op];
      } else if (in.unit_begin == kDynamicUnits) {
        ++next[c];
      } else {
        done[in.op] += in.unit_end - in.unit_begin;
        ++next[c];
      }
      progress = true;
    }
  }
  int missing = 0;
  for (size_t o = 0; o < ops.size(); ++o) missing += ops[o].units - done[o];
  return missing;
}

TEST(DecodeSchedule, StepLikeListsAreValidBalancedAndFinish) {
  std::mt19937 rng(7);
  for (int ctas : {1, 2, 7, 132, 264}) {
    for (int wide : {1, 40, 131, 960}) {
      const std::vector<ScheduleOp> ops = step_like_ops(3, wide);
      const DecodeSchedule s = build_decode_schedule(ops, ctas);
      ASSERT_NO_THROW(check_decode_schedule(ops, s)) << ctas << " CTAs, " << wide << " wide units";
      EXPECT_EQ(simulate(ops, s, rng), 0) << ctas << " CTAs, " << wide << " wide units";
      // A wide op's units differ by at most one between CTAs.
      for (size_t o = 0; o < ops.size(); ++o) {
        if (ops[o].units < ctas) continue;
        std::vector<int> per_cta(ctas, 0);
        for (int c = 0; c < ctas; ++c)
          for (int i = s.cta_first[c]; i < s.cta_first[c + 1]; ++i)
            if (s.instructions[i].op == static_cast<int>(o))
              per_cta[c] += s.instructions[i].unit_end - s.instructions[i].unit_begin;
        const auto [lo, hi] = std::minmax_element(per_cta.begin(), per_cta.end());
        EXPECT_LE(*hi - *lo, 1) << ops[o].name << " over " << ctas << " CTAs";
      }
    }
  }
}

TEST(DecodeSchedule, RandomDagsAreValidAndFinish) {
  std::mt19937 rng(11);
  for (int trial = 0; trial < 200; ++trial) {
    const int n_ops = 1 + static_cast<int>(rng() % 40);
    std::vector<ScheduleOp> ops(n_ops);
    for (int o = 0; o < n_ops; ++o) {
      ops[o].name = "op" + std::to_string(o);
      ops[o].units = static_cast<int>(rng() % 5 == 0 ? 0 : rng() % 300);  // empty ops (capacity 0) too
      for (int d = 0; d < o; ++d) {
        if (rng() % 4 == 0) ops[o].input_deps.push_back(d);
        else if (rng() % 9 == 0) ops[o].index_deps.push_back(d);
      }
    }
    const int ctas = 1 + static_cast<int>(rng() % 300);
    const DecodeSchedule s = build_decode_schedule(ops, ctas);
    ASSERT_NO_THROW(check_decode_schedule(ops, s)) << "trial " << trial;
    EXPECT_EQ(simulate(ops, s, rng), 0) << "trial " << trial;
    for (int o = 0; o < n_ops; ++o) {
      const PersistentOpHeader& h = s.headers[o];
      EXPECT_EQ(h.input_begin - h.index_begin, static_cast<int>(ops[o].index_deps.size()));
      EXPECT_EQ(h.input_end - h.input_begin, static_cast<int>(ops[o].input_deps.size()));
    }
  }
}

TEST(DecodeSchedule, RefusesWaitsOnLaterOpsAndBrokenSchedules) {
  std::vector<ScheduleOp> ops = step_like_ops(1, 10);
  ops[2].input_deps.push_back(5);  // qkv waiting for fc1: not an earlier op
  EXPECT_THROW(build_decode_schedule(ops, 4), Error);
  ops[2].input_deps.pop_back();
  ops[2].index_deps.push_back(2);  // waiting for itself
  EXPECT_THROW(build_decode_schedule(ops, 4), Error);
  ops[2].index_deps.pop_back();
  EXPECT_THROW(build_decode_schedule(ops, 0), Error);

  DecodeSchedule s = build_decode_schedule(ops, 4);
  DecodeSchedule dup = s;
  dup.instructions[0].unit_end += 1;  // a unit run twice (or past the op)
  EXPECT_THROW(check_decode_schedule(ops, dup), Error);
  DecodeSchedule swapped = s;
  std::swap(swapped.instructions[0], swapped.instructions[1]);  // a CTA's list out of op order
  EXPECT_THROW(check_decode_schedule(ops, swapped), Error);
  DecodeSchedule lost = s;
  lost.instructions.pop_back();
  lost.cta_first.back() -= 1;  // a unit that never runs
  EXPECT_THROW(check_decode_schedule(ops, lost), Error);
  try {
    check_decode_schedule(ops, lost);
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("runs 0 times"), std::string::npos) << e.what();
  }
}

// The step with predictor-like side ops (z, scores, one-unit select per layer, read by the next layer's MLP):
// on side CTAs they and only they run on CTAs [0, side); on none they spread like any op. Every form is valid
// and finishes.
TEST(DecodeSchedule, SideOpsStayOnTheSideCtas) {
  constexpr int kLayers = 3;
  std::vector<ScheduleOp> ops = step_like_ops(kLayers, 131);
  for (int l = kLayers - 1; l >= 1; --l) {
    // Insert before layer l's qkv (ops: embed, then 7 a layer): z reads the previous fc2, select feeds fc1.
    const int qkv = 1 + 7 * l + 1, fc2_prev = qkv - 2, fc1 = qkv + 4;
    std::vector<ScheduleOp> side(3);
    const int units[3] = {90, 1280, 1};
    const char* names[3] = {"mlp_predictor_z", "mlp_predictor_scores", "mlp_select"};
    for (int i = 0; i < 3; ++i) {
      side[i].name = names[i];
      side[i].layer = l;
      side[i].units = units[i];
      side[i].side = true;
      side[i].input_deps = {i == 0 ? fc2_prev : qkv + i - 1};
    }
    for (ScheduleOp& o : ops)  // ops from qkv on move three places
      for (auto* deps : {&o.input_deps, &o.index_deps})
        for (int& d : *deps) d += d >= qkv ? 3 : 0;
    ops.insert(ops.begin() + qkv, side.begin(), side.end());
    ops[fc1 + 3].index_deps.push_back(qkv + 2);
  }
  std::mt19937 rng(5);
  // Every predictor op on the side (DEJAVU_PERSISTENT_SIDE_CTAS), or the one-unit select alone
  // (DEJAVU_PERSISTENT_SELECT_CTAS: the decoder clears the mark on the others).
  for (const bool select_only : {false, true}) {
    if (select_only)
      for (ScheduleOp& o : ops) o.side = o.side && o.units == 1;
    const int side_units = (kLayers - 1) * (select_only ? 1 : 90 + 1280 + 1);
    for (int ctas : {2, 17, 264}) {
      for (int side_ctas : {0, 1, ctas / 10, ctas - 1}) {
        SCOPED_TRACE(::testing::Message() << ctas << " CTAs, " << side_ctas << " side, select only " << select_only);
        const DecodeSchedule s = build_decode_schedule(ops, ctas, side_ctas);
        ASSERT_NO_THROW(check_decode_schedule(ops, s));
        EXPECT_EQ(simulate(ops, s, rng), 0);
        int side_units_on_side = 0;
        for (int c = 0; c < ctas; ++c)
          for (int i = s.cta_first[c]; i < s.cta_first[c + 1]; ++i) {
            const ScheduleOp& o = ops[s.instructions[i].op];
            if (side_ctas > 0) {
              EXPECT_EQ(o.side, c < side_ctas) << o.name << " on CTA " << c;
            }
            const PersistentInstruction& in = s.instructions[i];
            if (o.side && c < side_ctas) side_units_on_side += in.unit_end - in.unit_begin;
          }
        EXPECT_EQ(side_units_on_side, side_ctas > 0 ? side_units : 0);
      }
    }
  }
  EXPECT_THROW(build_decode_schedule(ops, 8, 8), Error);
  EXPECT_THROW(build_decode_schedule(ops, 8, -1), Error);
}

// Dynamic placement (ScheduleOp::dynamic; DEJAVU_PERSISTENT_UNITS=dynamic marks the layer ops): every marked op
// with at least as many units as CTAs becomes one dynamic instruction on each CTA of its group, the rest stay
// static; step-like and random op lists, with and without side CTAs, are valid and finish; a dynamic op whose CTA
// count disagrees, or that also has static units, is refused.
TEST(DecodeSchedule, DynamicWideOpsAreSharedAndFinish) {
  std::mt19937 rng(3);
  for (int ctas : {1, 7, 264}) {
    for (int side_ctas : {0, ctas / 7}) {
      std::vector<ScheduleOp> ops = step_like_ops(3, 131);
      for (ScheduleOp& o : ops) o.dynamic = o.name != "fc1";  // one wide op kept fixed
      const DecodeSchedule s = build_decode_schedule(ops, ctas, side_ctas);
      SCOPED_TRACE(::testing::Message() << ctas << " CTAs, " << side_ctas << " side");
      ASSERT_NO_THROW(check_decode_schedule(ops, s));
      EXPECT_EQ(simulate(ops, s, rng), 0);
      const int main_ctas = ctas - side_ctas;  // no op is marked side here: all run on the main group
      std::vector<int> dynamic_on(ops.size(), 0);
      for (const PersistentInstruction& in : s.instructions)
        if (in.unit_begin == kDynamicUnits) {
          EXPECT_EQ(in.unit_end, main_ctas);
          ++dynamic_on[in.op];
        }
      for (size_t o = 0; o < ops.size(); ++o)
        EXPECT_EQ(dynamic_on[o], ops[o].dynamic && ops[o].units >= main_ctas ? main_ctas : 0) << ops[o].name;
    }
  }
  for (int trial = 0; trial < 100; ++trial) {
    const int n_ops = 1 + static_cast<int>(rng() % 30);
    std::vector<ScheduleOp> ops(n_ops);
    for (int o = 0; o < n_ops; ++o) {
      ops[o].name = "op" + std::to_string(o);
      ops[o].units = static_cast<int>(rng() % 5 == 0 ? 0 : rng() % 300);
      ops[o].side = rng() % 3 == 0;
      ops[o].dynamic = rng() % 4 != 0;
      for (int d = 0; d < o; ++d)
        if (rng() % 4 == 0) ops[o].input_deps.push_back(d);
    }
    const int ctas = 2 + static_cast<int>(rng() % 200);
    const DecodeSchedule s = build_decode_schedule(ops, ctas, static_cast<int>(rng() % ctas));
    ASSERT_NO_THROW(check_decode_schedule(ops, s)) << "trial " << trial;
    EXPECT_EQ(simulate(ops, s, rng), 0) << "trial " << trial;
  }
  std::vector<ScheduleOp> ops = step_like_ops(1, 40);
  for (ScheduleOp& o : ops) o.dynamic = true;
  const DecodeSchedule s = build_decode_schedule(ops, 4);
  const auto first_dynamic = std::find_if(s.instructions.begin(), s.instructions.end(),
                                          [](const PersistentInstruction& in) { return in.unit_begin < 0; });
  ASSERT_NE(first_dynamic, s.instructions.end());
  DecodeSchedule miscounted = s;
  miscounted.instructions[first_dynamic - s.instructions.begin()].unit_end = 3;  // 4 CTAs share it
  EXPECT_THROW(check_decode_schedule(ops, miscounted), Error);
  DecodeSchedule mixed = s;
  mixed.instructions[first_dynamic - s.instructions.begin()] = {first_dynamic->op, 0, 1};  // one static unit
  EXPECT_THROW(check_decode_schedule(ops, mixed), Error);
}

}  // namespace
}  // namespace dv::kernels
