#!/usr/bin/env bash
# step_train_models.sh OUT: train the shipped-model candidates (issue 11, item 4) side by side on one GPU.
# opt-mini v1's 4 heads per layer left no attention sparsity to study, so two candidates of the same size are
# trained with scripts/train_reference_opt.py's recipe on the same corpus (.carry/corpus from
# scripts/build_corpus.sh): 8 heads of 32 and 16 heads of 16 (d = 256, 12 layers, the same 22.5M parameters).
# Both run at once, each with the whole wall-clock budget (they share the GPU). scripts/pick_shipped_model.py
# chooses one; it comes back as a tar split into 15 MiB parts (the device returns files of at most 16 MiB),
# and every candidate's logs, loss curve, summary and evaluation in candidates.tgz.
# Needs: .carry/corpus/{corpus.txt.xz,tokenizer/}, .carry/data/wikitext-2/test.txt. About 540 s.
set -euo pipefail
out="${1:?usage: step_train_models.sh OUT}"
budget="${DEJAVU_TRAIN_BUDGET_S:-455}"
corpus=.carry/corpus
wikitext=.carry/data/wikitext-2/test.txt
for f in "$corpus/corpus.txt.xz" "$corpus/tokenizer/tokenizer.json" "$wikitext"; do
  [[ -f "$f" ]] || { echo "step_train_models.sh: $f: missing (carry .carry)" >&2; exit 2; }
done
work=/tmp/dejavu-train
rm -rf "$work"; mkdir -p "$work"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$work/gpu.txt"
pids=()
for heads in 8 16; do
  python3 scripts/train_reference_opt.py train --corpus "$corpus/corpus.txt.xz" \
    --tokenizer-dir "$corpus/tokenizer" --wikitext "$wikitext" --out "$work/h$heads" --heads "$heads" \
    --budget-s "$budget" --compile > "$work/train_h$heads.log" 2>&1 &
  pids+=($!)
done
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=$?; done
tail -n 4 "$work"/train_h*.log
python3 scripts/pick_shipped_model.py --out "$work/choice.json" "$work/h8" "$work/h16" | tee "$work/choice.txt"
choice=$(python3 -c "import json;print(json.load(open('$work/choice.json'))['choice'])")
(cd "$work" && tar czf "$out/candidates.tgz" gpu.txt choice.json choice.txt train_h*.log \
   h*/loss_curve.json h*/train_summary.json h*/eval_gpu_fp16.json h*/opt-mini/config.json)
(cd "$choice" && tar cf - opt-mini) | split -b 15M -d - "$out/model.tar.part"
ls -l "$out"
exit $rc
