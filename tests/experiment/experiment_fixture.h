// experiment_fixture.h: a scratch directory holding what experiment files point at (a model
// directory with a small OPT config.json, a collect corpus, an eval text), and YAML helpers.
#pragma once

#include <string>

namespace dv::test {

class ExperimentDir {
 public:
  ExperimentDir();  // creates model/config.json (4 layers, d=64, 128 positions), train.txt, test.txt
  ~ExperimentDir();
  ExperimentDir(const ExperimentDir&) = delete;
  ExperimentDir& operator=(const ExperimentDir&) = delete;

  const std::string& root() const { return root_; }
  std::string path(const std::string& name) const { return root_ + "/" + name; }
  // Writes `text` to root/name and returns the path.
  std::string write(const std::string& name, const std::string& text) const;
  // The minimal experiment that passes every check: model + collect.text + eval.text.
  std::string minimal_yaml() const;

 private:
  std::string root_;
};

}  // namespace dv::test
