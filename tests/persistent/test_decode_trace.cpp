// test_decode_trace.cpp: the analysis of a traced persistent step (decode_trace.h) on hand-made op lists and
// times: ready from the latest dependency's end, run = end - max(start, ready), totals per op name, the chain
// of binding dependencies back from the last op to end; an op without units; and the refusals (an op that
// never ran, one that ended before an op it waits for, mismatched sizes).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "kernels/common/error.h"
#include "kernels/persistent_decode/decode_trace.h"

namespace dv::kernels {
namespace {

ScheduleOp op(const std::string& name, int layer, int units, std::vector<int> inputs, std::vector<int> index = {}) {
  ScheduleOp o;
  o.name = name;
  o.layer = layer;
  o.units = units;
  o.input_deps = std::move(inputs);
  o.index_deps = std::move(index);
  return o;
}

// ns on the GPU clock: a base far from zero, as %globaltimer reads.
constexpr unsigned long long kBase = 1'700'000'000'000'000'000ull;
PersistentOpTrace at(double start_us, double end_us, double busy_us) {
  auto ns = [](double us) { return kBase + static_cast<unsigned long long>(us * 1000.0 + 0.5); };
  return PersistentOpTrace{ns(start_us), ns(end_us), static_cast<unsigned long long>(busy_us * 1000.0 + 0.5)};
}

// embed -> ln -> qkv -> attention -> out_proj (+ embed) ; a predictor on the side (waits for embed), whose
// selection out_proj also reads; a second layer's qkv after out_proj.
std::vector<ScheduleOp> small_step() {
  return {op("embed", -1, 2, {}),        op("ln", 0, 1, {0}),           op("qkv", 0, 8, {1}),
          op("predictor", 0, 4, {0}),    op("attention", 0, 3, {2}),    op("out_proj", 0, 6, {4, 0}, {3}),
          op("qkv", 1, 8, {5})};
}

TEST(DecodeTrace, ReadyRunTotalsAndTheChain) {
  const std::vector<ScheduleOp> ops = small_step();
  // CTAs reach ops early (their lists run ahead); predictor ends late, after attention, so it binds out_proj.
  const std::vector<PersistentOpTrace> raw = {at(0, 2, 3), at(0.5, 3, 2.5), at(1, 10, 50), at(0.2, 12.5, 9),
                                              at(4, 12, 20),  at(9, 16, 30), at(2, 25, 60)};
  const StepTrace t = analyze_step_trace(ops, raw);
  ASSERT_EQ(t.ops.size(), ops.size());
  EXPECT_DOUBLE_EQ(t.span_us, 25.0);
  EXPECT_DOUBLE_EQ(t.ops[0].ready_us, 0.0);
  EXPECT_DOUBLE_EQ(t.ops[0].run_us, 2.0);
  EXPECT_DOUBLE_EQ(t.ops[2].ready_us, 3.0);   // ln's end
  EXPECT_DOUBLE_EQ(t.ops[2].run_us, 7.0);     // 10 - max(1, 3)
  EXPECT_DOUBLE_EQ(t.ops[4].run_us, 2.0);     // 12 - max(4, 10)
  EXPECT_DOUBLE_EQ(t.ops[5].ready_us, 12.5);  // the predictor's end, not attention's 12 or embed's 2
  EXPECT_DOUBLE_EQ(t.ops[5].run_us, 3.5);     // 16 - max(9, 12.5)
  EXPECT_DOUBLE_EQ(t.ops[6].run_us, 9.0);     // 25 - max(2, 16)
  EXPECT_DOUBLE_EQ(t.ops[2].busy_us, 50.0);
  EXPECT_EQ(t.critical_path, (std::vector<int>{0, 3, 5, 6}));
  EXPECT_NEAR(t.critical_us, 2.0 + 10.5 + 3.5 + 9.0, 1e-9);  // the predictor: 12.5 - max(0.2, 2)
  ASSERT_EQ(t.by_name.size(), 6u);
  EXPECT_EQ(t.by_name[2].name, "qkv");
  EXPECT_EQ(t.by_name[2].ops, 2);
  EXPECT_DOUBLE_EQ(t.by_name[2].run_us, 16.0);
  EXPECT_DOUBLE_EQ(t.by_name[2].busy_us, 110.0);

  const std::string csv = step_trace_csv(t);
  EXPECT_EQ(csv.rfind("op,name,layer,units,start_us,ready_us,end_us,run_us,busy_us,critical\n", 0), 0u);
  EXPECT_NE(csv.find("\n3,predictor,0,4,0.200,2.000,12.500,10.500,9.000,1\n"), std::string::npos) << csv;
  EXPECT_NE(csv.find("\n4,attention,0,3,4.000,10.000,12.000,2.000,20.000,0\n"), std::string::npos) << csv;
  const std::string sum = step_trace_summary(t);
  EXPECT_NE(sum.find("step 25.0 us"), std::string::npos) << sum;
  EXPECT_LT(sum.find("qkv"), sum.find("predictor")) << sum;  // largest run first: qkv 16, predictor 10.5
}

TEST(DecodeTrace, AnOpWithoutUnitsTakesNoTime) {
  std::vector<ScheduleOp> ops = {op("embed", -1, 2, {}), op("kv_catchup", 0, 0, {0}), op("head", -1, 4, {1})};
  const std::vector<PersistentOpTrace> raw = {at(0, 5, 5), PersistentOpTrace{}, at(1, 9, 30)};
  const StepTrace t = analyze_step_trace(ops, raw);
  EXPECT_DOUBLE_EQ(t.ops[1].start_us, 5.0);
  EXPECT_DOUBLE_EQ(t.ops[1].end_us, 5.0);
  EXPECT_DOUBLE_EQ(t.ops[1].run_us, 0.0);
  EXPECT_DOUBLE_EQ(t.ops[2].run_us, 4.0);
  EXPECT_EQ(t.critical_path, (std::vector<int>{0, 1, 2}));
}

TEST(DecodeTrace, RefusesBrokenTraces) {
  const std::vector<ScheduleOp> ops = small_step();
  std::vector<PersistentOpTrace> raw = {at(0, 2, 3), at(0.5, 3, 2.5), at(1, 10, 50), at(0.2, 12.5, 9),
                                        at(4, 12, 20),  at(9, 16, 30), at(2, 25, 60)};
  auto message = [&](const std::vector<ScheduleOp>& o, const std::vector<PersistentOpTrace>& r) {
    try {
      analyze_step_trace(o, r);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  std::vector<PersistentOpTrace> never = raw;
  never[4] = PersistentOpTrace{};
  EXPECT_NE(message(ops, never).find("attention (op 4, layer 0) has no start / end"), std::string::npos)
      << message(ops, never);
  std::vector<PersistentOpTrace> early = raw;
  early[5] = at(9, 12.4, 3);  // out_proj done before the predictor whose selection it reads
  EXPECT_NE(message(ops, early).find("out_proj (op 5, layer 0) ended at 12.400 us, before predictor (op 3, layer 0)"),
            std::string::npos)
      << message(ops, early);
  raw.pop_back();
  EXPECT_NE(message(ops, raw).find("6 op times for 7 ops"), std::string::npos) << message(ops, raw);
}

}  // namespace
}  // namespace dv::kernels
