#!/usr/bin/env bash
# step_engine.sh OUT [CHECKPOINT_DIR] [PREDICTORS_DIR]: scoring speed through the one scorer interface,
# `dejavu perplexity --engine cuda` (the CUDA engine, windows prefilled in one pass) against
# `--engine reference --device cuda --dtype float16` (LibTorch), dense and, when predictors exist, sparse
# with predictors (10% MLP, 50% heads). Checkpoint default data/models/opt-mini; predictors default
# .carry/predictors (gpu_check.sh's); text $DEJAVU_DATA_DIR/wikitext-2/test.txt (or .carry/data, ../shared/data).
# Writes OUT/engine_speed.json (+ one JSON per run, and their logs) and prints one line per run and the
# cuda/reference tokens/s ratios. Needs a built build/dejavu; about 1-3 minutes on opt-1.3b (model loads
# dominate), under 30 s on opt-mini.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:?usage: step_engine.sh OUT [CHECKPOINT_DIR] [PREDICTORS_DIR]}
MODEL=${2:-data/models/opt-mini}
PRED=${3:-.carry/predictors}
mkdir -p "$OUT"
TEXT=""
for d in "${DEJAVU_DATA_DIR:-}" .carry/data ../shared/data; do
  if [ -n "$d" ] && [ -f "$d/wikitext-2/test.txt" ]; then TEXT="$d/wikitext-2/test.txt"; break; fi
done
[ -n "$TEXT" ] || { echo "step_engine: no wikitext-2/test.txt (set DEJAVU_DATA_DIR)"; exit 2; }
TOKENS=${DEJAVU_ENGINE_TOKENS:-32768}
SEQ=${DEJAVU_ENGINE_SEQ_LEN:-0}  # 0: min(max_position_embeddings, 2048)
common=(--model "$MODEL" --text "$TEXT" --max-tokens "$TOKENS" --seq-len "$SEQ" --dtype float16 --json)
runs=("reference_dense:--engine reference --device cuda" "cuda_dense:--engine cuda")
if [ -f "$PRED/predictors.safetensors" ]; then
  sparse="--sparse --predictors $PRED --mlp-density 0.1 --head-density 0.5"
  runs+=("reference_sparse:--engine reference --device cuda $sparse" "cuda_sparse:--engine cuda $sparse")
else
  echo "step_engine: no $PRED/predictors.safetensors: dense runs only"
fi
for r in "${runs[@]}"; do
  name=${r%%:*}
  # shellcheck disable=SC2086
  timeout 600 ./build/dejavu perplexity "${common[@]}" ${r#*:} >"$OUT/$name.json" 2>"$OUT/$name.log"
  echo "step_engine $name: rc=$? $(cut -c1-300 "$OUT/$name.json")"
done
python3 - "$OUT" "$MODEL" <<'PY'
import json, os, sys
out, model = sys.argv[1], sys.argv[2]
runs = {}
for name in ("reference_dense", "cuda_dense", "reference_sparse", "cuda_sparse"):
    path = os.path.join(out, name + ".json")
    try:
        with open(path) as f:
            runs[name] = json.loads(f.read().strip().splitlines()[-1])
    except (OSError, ValueError, IndexError):
        pass
summary = {"model": model, "runs": runs}
for mode in ("dense", "sparse"):
    ref, cuda = runs.get("reference_" + mode), runs.get("cuda_" + mode)
    if ref and cuda and ref.get("tokens_per_second"):
        summary[mode + "_speed_ratio"] = cuda["tokens_per_second"] / ref["tokens_per_second"]
        summary[mode + "_perplexity"] = {"reference": ref["perplexity"], "cuda": cuda["perplexity"]}
        print(f"step_engine {mode}: cuda {cuda['tokens_per_second']:.0f} tok/s vs reference "
              f"{ref['tokens_per_second']:.0f} tok/s = {summary[mode + '_speed_ratio']:.2f}x; perplexity "
              f"{cuda['perplexity']:.4f} vs {ref['perplexity']:.4f}")
with open(os.path.join(out, "engine_speed.json.tmp"), "w") as f:
    json.dump(summary, f, indent=1)
os.replace(os.path.join(out, "engine_speed.json.tmp"), os.path.join(out, "engine_speed.json"))
PY
