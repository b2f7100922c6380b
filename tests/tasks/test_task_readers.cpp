// test_task_readers.cpp: each reader on a sample line of its public layout gives lm-eval-harness's requests
// (the strings its task YAML/utils produce, written out here by hand), both layouts of a task agree, and
// malformed files fail with one message naming the file, the line and the problem.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>

#include "kernels/common/error.h"
#include "pipeline/tasks/task_docs.h"

namespace {

namespace fs = std::filesystem;

std::string write_file(const std::string& name, const std::string& text) {
  const fs::path dir = fs::temp_directory_path() / "dv_task_readers";
  fs::create_directories(dir);
  const std::string path = (dir / name).string();
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

dv::Task read(const std::string& format, const std::string& text, const std::string& file = "") {
  return dv::read_task("", format, write_file(file.empty() ? format + ".jsonl" : file, text));
}

// One JSON Lines record written over several source lines for reading.
std::string one_line(std::string s) {
  std::replace(s.begin(), s.end(), '\n', ' ');
  return s;
}

std::string error_of(const std::string& format, const std::string& text) {
  try {
    read(format, text, "bad_" + format + ".jsonl");
  } catch (const dv::Error& e) {
    return e.what();
  }
  return "";
}

TEST(TaskReaders, CbBothLayouts) {
  const dv::Task hf = read("cb", R"({"premise": "It rained.", "hypothesis": "it was wet", "label": 2, "idx": 0})");
  const dv::Task orig = read("cb", R"({"premise": "It rained.", "hypothesis": "it was wet", "label": "neutral"})", "cb_o.jsonl");
  ASSERT_EQ(hf.docs.size(), 1u);
  const dv::TaskDoc& d = hf.docs[0];
  ASSERT_EQ(d.requests.size(), 3u);
  EXPECT_EQ(d.requests[0].context, "It rained.\nQuestion: it was wet. True, False, or Neither?\nAnswer:");
  EXPECT_EQ(d.requests[2].continuation, " Neither");
  EXPECT_EQ(d.choice_lengths[2], 7);
  EXPECT_EQ(d.gold, 2);
  EXPECT_EQ(orig.docs[0].gold, 2);
  EXPECT_TRUE(hf.report_f1);
}

TEST(TaskReaders, RteCopa) {
  const dv::Task rte = read("rte", R"({"premise": "A b.", "hypothesis": "C d.", "label": "not_entailment"})");
  EXPECT_EQ(rte.docs[0].requests[1].context, "A b.\nQuestion: C d. True or False?\nAnswer:");
  EXPECT_EQ(rte.docs[0].requests[1].continuation, " False");
  EXPECT_EQ(rte.docs[0].gold, 1);
  const dv::Task copa = read("copa", one_line(R"({"premise": "The man broke his toe. ", "choice1": "He dropped a hammer.",
    "choice2": "He got a hole.", "question": "cause", "label": 0})"));
  // premise.strip()[:-1] + " because"; choices " " + lowered first letter, after the " " delimiter.
  EXPECT_EQ(copa.docs[0].requests[0].context, "The man broke his toe because");
  EXPECT_EQ(copa.docs[0].requests[0].continuation, "  he dropped a hammer.");
  EXPECT_EQ(copa.docs[0].choice_lengths[0], 21);
  const dv::Task effect = read("copa", R"({"premise": "I tipped it.", "choice1": "A.", "choice2": "B.", "question": "effect", "label": 1})");
  EXPECT_EQ(effect.docs[0].requests[1].context, "I tipped it therefore");
  EXPECT_EQ(effect.docs[0].gold, 1);
}

TEST(TaskReaders, HellaswagPreprocess) {
  const dv::Task t = read("hellaswag", one_line(R"({"activity_label": "Home", "ctx_a": "[header] How to x [title] Pick a spot.",
    "ctx_b": "the TREE needs", "endings": ["[step] six  hours.", "b", "c", "d"], "label": "0"})"));
  const dv::TaskDoc& d = t.docs[0];
  // " [title]" -> ". ", "[...]" removed, double spaces collapsed once (Python's str.replace), ctx_b capitalized.
  EXPECT_EQ(d.requests[0].context, "Home: How to x. Pick a spot. The tree needs");
  EXPECT_EQ(d.requests[0].continuation, "  six hours.");  // the ending keeps the space left by "[step]"
  EXPECT_EQ(d.gold, 0);
  EXPECT_TRUE(t.report_acc_norm);
}

TEST(TaskReaders, OpenbookqaBothLayouts) {
  const dv::Task hf = read("openbookqa", one_line(R"({"id": "1", "question_stem": "The sun is", "choices": {"text": ["hot", "cold"],
    "label": ["A", "B"]}, "answerKey": "A"})"));
  const dv::Task orig = read("openbookqa", one_line(R"({"id": "1", "question": {"stem": "The sun is", "choices": [
    {"text": "hot", "label": "A"}, {"text": "cold", "label": "B"}]}, "answerKey": " A"})"), "obqa_o.jsonl");
  for (const dv::Task* t : {&hf, &orig}) {
    EXPECT_EQ(t->docs[0].requests[1].context, "The sun is");
    EXPECT_EQ(t->docs[0].requests[1].continuation, " cold");
    EXPECT_EQ(t->docs[0].gold, 0);
  }
}

TEST(TaskReaders, PiqaLabelsFileBeside) {
  const std::string line = R"({"goal": "Boil water", "sol1": "use a pot", "sol2": "use a sieve"})";
  write_file("piqa_valid-labels.lst", "1\n");
  const dv::Task t = dv::read_task("", "piqa", write_file("piqa_valid.jsonl", line + "\n"));
  EXPECT_EQ(t.docs[0].requests[0].context, "Question: Boil water\nAnswer:");
  EXPECT_EQ(t.docs[0].gold, 1);
  fs::remove(fs::temp_directory_path() / "dv_task_readers" / "piqa_valid-labels.lst");
  EXPECT_NE(error_of("piqa", line).find("labels.lst"), std::string::npos);
}

TEST(TaskReaders, WinograndePartialScoring) {
  const dv::Task t = read("winogrande", one_line(R"({"sentence": "Sarah beat Maria so _ won the prize.", "option1": "Sarah",
    "option2": "Maria", "answer": "2"})"));
  const dv::TaskDoc& d = t.docs[0];
  EXPECT_EQ(d.requests[0].context, "Sarah beat Maria so Sarah");
  EXPECT_EQ(d.requests[1].context, "Sarah beat Maria so Maria");
  EXPECT_EQ(d.requests[0].continuation, " won the prize.");
  EXPECT_EQ(d.requests[1].continuation, " won the prize.");
  EXPECT_EQ(d.gold, 1);
  EXPECT_FALSE(t.report_acc_norm);
}

TEST(TaskReaders, LambadaAndGenericAndJsonArray) {
  const dv::Task l = read("lambada", "{\"text\": \"he drank the hot tea\"}\n\n{\"text\": \"a  b c\"}\n");
  ASSERT_EQ(l.docs.size(), 2u);
  EXPECT_EQ(l.kind, dv::TaskKind::kLastWord);
  EXPECT_EQ(l.docs[0].requests[0].context, "he drank the hot");
  EXPECT_EQ(l.docs[0].requests[0].continuation, " tea");
  EXPECT_EQ(l.docs[1].requests[0].context, "a  b");  // split(' ')[:-1] joined back: the double space stays
  const dv::Task g = read("jsonl", R"([{"context": "Paris is in", "choices": ["France", "Peru"], "gold": 0},
    {"context": "x", "choices": ["é", "yy"], "gold": 1}])", "generic.json");
  ASSERT_EQ(g.docs.size(), 2u);
  EXPECT_EQ(g.docs[0].requests[1].continuation, " Peru");
  EXPECT_EQ(g.docs[1].choice_lengths[0], 1);  // one code point, two UTF-8 bytes
  EXPECT_EQ(dv::read_task("n", "jsonl", write_file("many.jsonl", R"({"context": "a", "choices": ["b", "c"], "gold": 0}
{"context": "a", "choices": ["b", "c"], "gold": 1})"), 1).docs.size(), 1u);
}

TEST(TaskReaders, MalformedInputNamesFileLineAndProblem) {
  EXPECT_NE(error_of("cb", R"({"premise": "a", "label": 0})").find("bad_cb.jsonl:1: field 'hypothesis' is missing"),
            std::string::npos);
  EXPECT_NE(error_of("rte", "{\"premise\": \"a\", \"hypothesis\": \"b\", \"label\": 0}\n{oops").find("bad_rte.jsonl:2: not valid JSON"),
            std::string::npos);
  EXPECT_NE(error_of("winogrande", R"({"sentence": "no blank", "option1": "a", "option2": "b", "answer": "1"})")
                .find("has no '_' blank"), std::string::npos);
  EXPECT_NE(error_of("copa", R"({"premise": "a.", "choice1": "b", "choice2": "c", "question": "why", "label": 0})")
                .find("field 'question' must be 0 or \"cause\", 1 or \"effect\""), std::string::npos);
  EXPECT_NE(error_of("jsonl", R"({"context": "a", "choices": ["b", "c"], "gold": 2})").find("field 'gold'"),
            std::string::npos);
  EXPECT_NE(error_of("openbookqa", R"({"question_stem": "a", "choices": {"text": ["b"], "label": ["A"]}, "answerKey": "C"})")
                .find("answerKey \"C\""), std::string::npos);
  EXPECT_NE(error_of("lambada", "\n\n").find("empty"), std::string::npos);
  EXPECT_NE(error_of("lambada", R"({"text": "oneword"})").find("needs a context"), std::string::npos);
  EXPECT_THROW(dv::read_task("", "mmlu", write_file("x.jsonl", "{}")), dv::Error);
  EXPECT_THROW(dv::read_task("", "cb", "/nonexistent/cb.jsonl"), dv::Error);
}

TEST(TaskReaders, TaskSpecs) {
  const dv::TaskSpec a = dv::parse_task_spec("lambada=/x/y.jsonl");
  EXPECT_EQ(a.name, "lambada");
  EXPECT_EQ(a.format, "lambada");
  EXPECT_EQ(a.file, "/x/y.jsonl");
  const dv::TaskSpec b = dv::parse_task_spec("lastword:lambada=a=b.jsonl");
  EXPECT_EQ(b.name, "lastword");
  EXPECT_EQ(b.format, "lambada");
  EXPECT_EQ(b.file, "a=b.jsonl");
  EXPECT_THROW(dv::parse_task_spec("lambada"), dv::Error);
  EXPECT_THROW(dv::parse_task_spec(":lambada=x"), dv::Error);
}

}  // namespace
