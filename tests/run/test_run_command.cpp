// test_run_command.cpp: the command printed to resume an interrupted `dejavu run` repeats --out and --only (where
// and what runs), leaves --force out (it would re-run finished stages), and quotes words so that a POSIX shell
// reads back exactly the paths given (checked by running /bin/sh on it).
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "pipeline/run/run_command.h"

namespace dv {
namespace {

// The words /bin/sh splits `line` into, one per output line.
std::vector<std::string> shell_words(const std::string& line) {
  const std::string cmd = "set -- " + line + "; for w in \"$@\"; do printf '%s\\n' \"$w\"; done";
  FILE* p = popen(("/bin/sh -c " + shell_word(cmd)).c_str(), "r");
  if (p == nullptr) {
    ADD_FAILURE() << "popen failed: " << cmd;
    return {};
  }
  std::string out;
  char buf[256];
  while (std::fgets(buf, sizeof(buf), p) != nullptr) out += buf;
  EXPECT_EQ(pclose(p), 0) << cmd;
  std::vector<std::string> words;
  size_t start = 0;
  for (size_t nl; (nl = out.find('\n', start)) != std::string::npos; start = nl + 1)
    words.push_back(out.substr(start, nl - start));
  return words;
}

TEST(RunCommand, ResumeRepeatsOutAndOnly) {
  RunOptions ro;
  EXPECT_EQ(resume_command("experiments/quickstart.yaml", "", ro), "dejavu run experiments/quickstart.yaml");
  ro.only = "train";
  EXPECT_EQ(resume_command("experiments/quickstart.yaml", "/tmp/runs/q-1", ro),
            "dejavu run experiments/quickstart.yaml --out /tmp/runs/q-1 --only train");
  ro.only.clear();
  EXPECT_EQ(resume_command("x.yaml", "runs/other", ro), "dejavu run x.yaml --out runs/other");
}

TEST(RunCommand, ResumeLeavesForceOut) {
  RunOptions ro;
  ro.force = true;
  ro.only = "eval";
  const std::string cmd = resume_command("x.yaml", "out", ro);
  EXPECT_EQ(cmd, "dejavu run x.yaml --out out --only eval");
  EXPECT_EQ(cmd.find("--force"), std::string::npos);
}

TEST(RunCommand, ShellReadsBackEveryPath) {
  const std::vector<std::string> paths = {"plain/path.yaml", "my runs/out dir", "it's", "a\"b", "$HOME/x", "*.yaml",
                                          "semi;colon", "back\\slash", "tab\there", "~user", "", "--out"};
  for (const std::string& out : paths) {
    RunOptions ro;
    ro.only = "collect";
    const std::string yaml = "exp " + out + ".yaml";
    const std::vector<std::string> words = shell_words(resume_command(yaml, out.empty() ? "o" : out, ro));
    const std::vector<std::string> want = {"dejavu", "run", yaml, "--out", out.empty() ? "o" : out, "--only",
                                           "collect"};
    EXPECT_EQ(words, want) << resume_command(yaml, out, ro);
  }
  EXPECT_EQ(shell_words(shell_word("")), std::vector<std::string>{""});
}

}  // namespace
}  // namespace dv
