// task_docs.h: a zero-shot task as lm-eval-harness builds it: every document becomes one (context,
// continuation) request per choice, scored by the log-likelihood of the continuation given the context.
// The readers (task_readers.cpp) turn each benchmark's public file layout into these requests with the
// harness's own prompt templates (lm_eval/tasks/<task>/*.yaml, 0.4.13), so a user points at the files
// unchanged. pipeline/tasks/README.md lists every layout with a sample line.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace dv {

enum class TaskKind {
  kMultipleChoice,  // argmax over the choices' log-likelihoods (acc) and over them / choice length (acc_norm)
  kLastWord,        // one continuation: acc = greedy decoding reproduces it; perplexity = exp(-mean ll)
};

struct TaskRequest {
  std::string context, continuation;  // continuation carries its leading space (lm-eval's target_delimiter)
};

struct TaskDoc {
  std::vector<TaskRequest> requests;  // one per choice (kLastWord: exactly one)
  // acc_norm's denominators: len(choice) as lm-eval computes it (Python str length: code points of the choice
  // without the delimiter; equal to its UTF-8 bytes for ASCII text).
  std::vector<double> choice_lengths;
  int gold = 0;  // index of the correct choice
};

struct Task {
  std::string name;    // how results name it (defaults to the format)
  std::string format;  // the reader: cb, copa, hellaswag, lambada, openbookqa, piqa, rte, winogrande, jsonl
  std::string file;
  TaskKind kind = TaskKind::kMultipleChoice;
  bool report_acc_norm = false;  // lm-eval's metric list for this task has acc_norm
  bool report_f1 = false;        // CB: macro F1 over its three labels
  std::vector<TaskDoc> docs;
};

// The reader names, in the order help texts list them.
const std::vector<std::string>& task_formats();

// Reads `file` in the layout of `format`; at most max_docs documents (0 = all). dv::Error naming the file,
// the line and what is wrong for malformed input.
Task read_task(const std::string& name, const std::string& format, const std::string& file, int64_t max_docs = 0);

// "FORMAT=FILE" or "NAME:FORMAT=FILE" (the command line's --task); dv::Error naming the spec when malformed.
struct TaskSpec {
  std::string name, format, file;
};
TaskSpec parse_task_spec(const std::string& spec);

}  // namespace dv
