// cli_train_test.cpp: `dejavu train` as the subcommand table registers it: every option shows its
// default in --help, and a run over a planted store writes the predictor directory.
#include <filesystem>
#include <string>

#include <CLI/CLI.hpp>
#include <gtest/gtest.h>

#include "engine/io/atomic_file.h"
#include "pipeline/train/cmd_train.h"
#include "pipeline/train/predictor_set.h"
#include "tests/train/planted_store.h"

namespace dv {
namespace {

TEST(TrainCommand, HelpShowsEveryDefault) {
  CLI::App app;
  cli::add_train_command(app);
  const std::string help = app.get_subcommand("train")->help();
  for (const char* want : {"--acts", "--out", "--device", "--rank-mlp", "--rank-att", "--epochs", "--lr-mlp",
                           "--lr-att", "--weight-decay", "--batch-size", "--val-fraction", "--patience", "--layers",
                           "--mlp-input", "--att-input", "--att-top-fraction", "--topk", "--threads", "--seed"}) {
    EXPECT_NE(help.find(want), std::string::npos) << want;
  }
  // The recipe's flags come from the train section's table: its range, its default, and its YAML key.
  for (const char* value : {"--epochs INT:1..10000=20", "--lr-mlp FLOAT:in (0, 1]=0.001",
                            "--lr-att FLOAT:in (0, 1]=0.0001", "--weight-decay FLOAT:in [0, 1]=0.01",
                            "--batch-size INT:1..16777216=1024", "--val-fraction FLOAT:in (0, 1)=0.05",
                            "--patience INT:1..10000=5", "--att-top-fraction FLOAT:in (0, 1]=0.3", "=mlp_input",
                            "=prev_attn_input", "--device TEXT=cpu", "--rank-mlp INT:0..65536=0",
                            "--topk FLOAT=0.05 0.1 0.2 0.3 0.5", "(YAML train.epochs)"}) {
    EXPECT_NE(help.find(value), std::string::npos) << value << " not in\n" << help;
  }
}

TEST(TrainCommand, TrainsAPlantedStore) {
  test::TempDir dir;
  test::PlantedSpec spec;
  spec.rows = 600;
  write_planted_store(dir.file("acts.h5"), spec);
  CLI::App app;
  cli::add_train_command(app);
  app.parse("train --acts " + dir.file("acts.h5") + " --out " + dir.file("pred") +
                " --epochs 2 --rank-mlp 8 --rank-att 4 --batch-size 64 --layers 1 --att-input attn_input"
                " --topk 0.1,0.5 --threads 1 --no-progress",
            false);
  const PredictorSet s = load_predictors(dir.file("pred"), test::planted_config(spec));
  EXPECT_EQ(s.layers(), (std::vector<int64_t>{1}));
  EXPECT_EQ(s.rank_att, 4);
  EXPECT_EQ(s.att_input, PredictorInput::kAttnInput);
  EXPECT_TRUE(std::filesystem::exists(dir.file("pred/metrics.csv")));
  CLI::App bad;
  cli::add_train_command(bad);
  EXPECT_THROW(bad.parse("train --acts a --out b --mlp-input residual", false), CLI::ValidationError);
}

}  // namespace
}  // namespace dv
