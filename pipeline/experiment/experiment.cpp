// experiment.cpp: stage names, and equality of the experiment structs through their option tables (the
// resolved-YAML round trip is checked with it).
#include "pipeline/experiment/experiment.h"

#include <algorithm>
#include <string>
#include <tuple>
#include <vector>

#include "pipeline/experiment/option_text.h"

namespace dv {

const char* stage_name(Stage s) {
  switch (s) {
    case Stage::kCollect: return "collect";
    case Stage::kTrain: return "train";
    case Stage::kMeasure: return "measure";
    case Stage::kEval: return "eval";
    case Stage::kBench: return "bench";
  }
  return "?";
}

bool Experiment::runs(Stage s) const { return std::find(stages.begin(), stages.end(), s) != stages.end(); }

namespace {

// Two sections are equal when every option of their table writes the same text (numbers in their shortest
// round-trip form, so equal text is equal value).
std::vector<std::string> values(const OptionTexts& t) {
  std::vector<std::string> out;
  for (const OptionText& r : t.rows) out.push_back(r.value);
  return out;
}

template <class Section, class Visit>
bool same_options(const Section& a, const Section& b, Visit visit) {
  OptionTexts ta, tb;
  visit(a, ta);
  visit(b, tb);
  return values(ta) == values(tb);
}

}  // namespace

bool CollectSection::operator==(const CollectSection& o) const {
  return same_options(*this, o, [](const auto& s, auto& v) { visit_collect_options(s, v); });
}

bool TrainSection::operator==(const TrainSection& o) const {
  return same_options(*this, o, [](const auto& s, auto& v) { visit_train_options(s, v); });
}

bool MeasureSection::operator==(const MeasureSection& o) const {
  return same_options(*this, o, [](const auto& s, auto& v) { visit_measure_options(s, v); });
}

bool EvalSection::operator==(const EvalSection& o) const {
  return same_options(*this, o, [](const auto& s, auto& v) { visit_eval_options(s, v); });
}

bool BenchSection::operator==(const BenchSection& o) const {
  return same_options(*this, o, [](const auto& s, auto& v) { visit_bench_options(s, v, {}); });
}

bool BenchSection::times_model() const { return std::find(shapes.begin(), shapes.end(), "model") != shapes.end(); }

bool Experiment::operator==(const Experiment& o) const {
  return std::tie(name, output_dir, model, device, dtype, seed, stages, collect, train, measure, eval, bench) ==
         std::tie(o.name, o.output_dir, o.model, o.device, o.dtype, o.seed, o.stages, o.collect, o.train, o.measure,
                  o.eval, o.bench);
}

}  // namespace dv
