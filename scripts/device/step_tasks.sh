#!/usr/bin/env bash
# step_tasks.sh OUT_DIR: the zero-shot task experiments (paper-table3-zero-shot, paper-figure6-accuracy-vs-sparsity)
# on the GPU machine, on opt-mini with the WikiText-2 stand-in tasks (not the benchmarks: pipeline/tasks/README.md),
# every document of both tasks (task_max_docs: 0). Cwd: the repository root with a built build/; WikiText-2 from
# $DEJAVU_DATA_DIR (gpu_check.sh sets it to .carry/data) or ../shared/data. The experiments are copied into OUT_DIR
# with their data paths pointed there. Prints each run's table (scripts/plot_tasks.py --markdown). Expected time:
# a few minutes on one H200 (collect 32k tokens, train, 5 + 19 sweep points of 500 + 500 documents); each run is
# capped at 15 minutes. Then the two stand-in tasks again through `dejavu tasks` on both engines at three
# points (dense, oracle and predicted at MLP density 0.15, layer 0 dense), with the table-3 run's predictors:
# the reference on the GPU (fp16, masks) against the CUDA engine (fp16, its own selections), wall time and
# accuracy side by side (no timing asserts); about a minute more, each run capped at 5 minutes.
set -euo pipefail
out=${1:?usage: step_tasks.sh OUT_DIR}
data=${DEJAVU_DATA_DIR:-../shared/data}
mkdir -p "$out"
out=$(cd "$out" && pwd)
python3 scripts/make_standin_tasks.py "$out/standin-tasks" --data-dir "$data"
export DEJAVU_SOURCE_DIR=$PWD
# DEJAVU_TASK_EXPS picks the experiments (the engine comparison below needs paper-table3-zero-shot).
for exp in ${DEJAVU_TASK_EXPS:-paper-table3-zero-shot paper-figure6-accuracy-vs-sparsity head-sparsity-study}; do
  sed -e "s#\.\./shared/data#$data#g" -e "s#runs/standin-tasks#$out/standin-tasks#g" \
      -e "s#^  task_max_docs: .*#  task_max_docs: 0#" -e "s#^name: .*#&\noutput_dir: $out/$exp#" \
      "experiments/$exp.yaml" > "$out/$exp.yaml"
  start=$(date +%s)
  timeout 900 ./build/dejavu run "$out/$exp.yaml" > "$out/$exp.log" 2>&1 || { echo "step_tasks: $exp failed (see $out/$exp.log)"; tail -5 "$out/$exp.log"; exit 1; }
  echo "== $exp ($(( $(date +%s) - start )) s, commit ${DEJAVU_COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)})"
  python3 scripts/plot_tasks.py "$out/$exp/eval" --markdown
done

# The same tasks through `dejavu tasks --engine reference|cuda` (pipeline/tasks/README.md).
predictors=$out/paper-table3-zero-shot/train
for engine in reference cuda; do
  # The reference runs the model on the GPU in fp16; the CUDA engine uploads its own fp16 copy of the weights.
  device=(--device cuda --dtype float16)
  [ "$engine" = cuda ] && device=()
  start=$(date +%s%N)
  timeout 300 ./build/dejavu tasks --engine "$engine" "${device[@]}" --model data/models/opt-mini \
      --predictors "$predictors" --modes dense,oracle,predicted --targets mlp --mlp-densities 0.15 --dense-layers 0 \
      --task "wikitext2_lastword:lambada=$out/standin-tasks/wikitext2_lastword.jsonl" \
      --task "wikitext2_next_sentence:jsonl=$out/standin-tasks/wikitext2_next_sentence.jsonl" \
      --out "$out/tasks-$engine" > "$out/tasks-$engine.log" 2>&1 \
    || { echo "step_tasks: dejavu tasks --engine $engine failed (see $out/tasks-$engine.log)"
         tail -5 "$out/tasks-$engine.log"; exit 1; }
  echo $(( ($(date +%s%N) - start) / 1000000 )) > "$out/tasks-$engine.wall_ms"
done
python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
runs = {}
for engine in ("reference", "cuda"):
    with open(f"{out}/tasks-{engine}/tasks.json") as f:
        runs[engine] = json.load(f)["points"]
    with open(f"{out}/tasks-{engine}.wall_ms") as f:
        runs[engine + "_wall"] = float(f.read()) / 1000
print("== dejavu tasks: reference engine on the GPU (fp16) vs the CUDA engine (fp16), opt-mini, stand-in tasks")
print(f"whole command wall time: reference {runs['reference_wall']:.1f} s, cuda {runs['cuda_wall']:.1f} s")
print("| mode | mlp density | task | acc reference | acc cuda | s reference | s cuda | mlp mass kept ref | cuda |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
for r, c in zip(runs["reference"], runs["cuda"]):
    assert (r["mode"], r["task"], r["mlp_density"]) == (c["mode"], c["task"], c["mlp_density"]), (r, c)
    print(f"| {r['mode']} | {r['mlp_density']:g} | {r['task']} | {r['metrics']['acc']['value']:.4f} | "
          f"{c['metrics']['acc']['value']:.4f} | {r['seconds']:.2f} | {c['seconds']:.2f} | "
          f"{r['mlp_mass_recall']:.4f} | {c['mlp_mass_recall']:.4f} |")
PY
