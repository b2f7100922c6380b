#!/usr/bin/env bash
# step_tasks.sh OUT_DIR: the zero-shot task experiments (paper-table3-zero-shot, paper-figure6-accuracy-vs-sparsity)
# on the GPU machine, on opt-mini with the WikiText-2 stand-in tasks (not the benchmarks: pipeline/tasks/README.md),
# every document of both tasks (task_max_docs: 0). Cwd: the repository root with a built build/; WikiText-2 from
# $DEJAVU_DATA_DIR (gpu_check.sh sets it to .carry/data) or ../shared/data. The experiments are copied into OUT_DIR
# with their data paths pointed there. Prints each run's table (scripts/plot_tasks.py --markdown). Expected time:
# a few minutes on one H200 (collect 32k tokens, train, 5 + 19 sweep points of 500 + 500 documents); each run is
# capped at 15 minutes.
set -euo pipefail
out=${1:?usage: step_tasks.sh OUT_DIR}
data=${DEJAVU_DATA_DIR:-../shared/data}
mkdir -p "$out"
out=$(cd "$out" && pwd)
python3 scripts/make_standin_tasks.py "$out/standin-tasks" --data-dir "$data"
export DEJAVU_SOURCE_DIR=$PWD
for exp in paper-table3-zero-shot paper-figure6-accuracy-vs-sparsity head-sparsity-study; do
  sed -e "s#\.\./shared/data#$data#g" -e "s#runs/standin-tasks#$out/standin-tasks#g" \
      -e "s#^  task_max_docs: .*#  task_max_docs: 0#" -e "s#^name: .*#&\noutput_dir: $out/$exp#" \
      "experiments/$exp.yaml" > "$out/$exp.yaml"
  start=$(date +%s)
  timeout 900 ./build/dejavu run "$out/$exp.yaml" > "$out/$exp.log" 2>&1 || { echo "step_tasks: $exp failed (see $out/$exp.log)"; tail -5 "$out/$exp.log"; exit 1; }
  echo "== $exp ($(( $(date +%s) - start )) s, commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown))"
  python3 scripts/plot_tasks.py "$out/$exp/eval" --markdown
done
