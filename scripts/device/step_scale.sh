#!/usr/bin/env bash
# step_scale.sh OUTDIR: the pipeline at real OPT sizes on the GPU machine (issue 10's "done when" table).
#   1. random-weight opt-1.3b and opt-6.7b checkpoints (scripts/make_random_opt.py, fp16, drawn on the GPU) in
#      $DEJAVU_SCALE_DIR (default /tmp/dejavu-scale); runs/models/opt-1.3b-random links to the first
#   2. the disk's write rate (dd 2 GB, conv=fdatasync) and the dense forward's tokens/s (`dejavu perplexity
#      --device cuda --dtype float16 --json`, 32,768 tokens in 2,048-token windows) of both shapes
#   3. experiments/scale-opt-1.3b.yaml stage by stage (`dejavu run EXP --only STAGE`, so that each stage has its
#      own process: wall time, peak host RSS from /usr/bin/time -v, peak GPU memory from nvidia-smi sampled
#      every 100 ms), then one plain `dejavu run EXP`, which must skip every stage
#   4. collect + train on the opt-6.7b shape (4,096 tokens, every 4th position of 1,024-token windows: 1,024
#      rows; 2 epochs on all 32 layers), the same measurements
# Sizes: opt-1.3b collect 16,384 tokens (4,096 rows), train 24 layers x 4 epochs, eval 8,192 tokens x 5 points,
# bench 128-token prompt + 133 decode steps x 11 configurations. Expected under 6 minutes on an H200 (most of
# it writing the 2.6 + 13.3 GB checkpoints and loading them; DEJAVU_SCALE_SKIP_67B=1 leaves step 4 and the
# 6.7b checkpoint out).
# Writes OUTDIR/scale_summary.md and scale_summary.json (the table), scale_log.txt (every command's output),
# the stage outputs' JSON (bench.json, each stage's stage_run.json) and prints the table. Data: $DEJAVU_DATA_DIR
# (WikiText-2 and the GPT-2 BPE; ../shared/data when unset).
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:?usage: step_scale.sh OUTDIR}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
W=${DEJAVU_SCALE_DIR:-/tmp/dejavu-scale}
DATA=${DEJAVU_DATA_DIR:-../shared/data}
DATA=$(cd "$DATA" && pwd) || { echo "step_scale: no data directory $DATA"; exit 2; }
export DEJAVU_DATA_DIR=$DATA
DEJAVU=$PWD/build/dejavu
LOG=$OUT/scale_log.txt
MEAS=$W/measurements.tsv
mkdir -p "$W/models" runs/models
: >"$LOG"
: >"$MEAS"
[ -x "$DEJAVU" ] || { echo "step_scale: $DEJAVU missing (build first)"; exit 2; }
T0=$(date +%s)

# measure NAME CMD...: runs CMD under /usr/bin/time -v with nvidia-smi sampling beside it; appends
# NAME, rc, wall s, peak RSS MB, peak GPU MiB (minus the idle baseline) to $MEAS.
measure() {
  local name=$1
  shift
  local smi=$W/smi.$name.log base
  base=$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -i 0 2>/dev/null | head -1)
  nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -i 0 -lms 100 >"$smi" 2>/dev/null &
  local smi_pid=$!
  local start end rc
  start=$(date +%s.%N)
  echo "### $name: $*" >>"$LOG"
  if [ -x /usr/bin/time ]; then
    /usr/bin/time -v -o "$W/time.$name.txt" "$@" >>"$LOG" 2>&1
  else
    "$@" >>"$LOG" 2>&1  # no GNU time here: peak RSS is reported as 0
  fi
  rc=$?
  end=$(date +%s.%N)
  kill "$smi_pid" 2>/dev/null
  wait "$smi_pid" 2>/dev/null
  local rss gpu
  rss=$(awk -F: '/Maximum resident set size/ {printf "%.0f", $2 / 1024}' "$W/time.$name.txt" 2>/dev/null)
  gpu=$(sort -n "$smi" 2>/dev/null | tail -1)
  local wall
  wall=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }')
  printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$rc" "$wall" "${rss:-0}" "$(( ${gpu:-0} - ${base:-0} ))" >>"$MEAS"
  echo "step_scale: $name rc=$rc in $wall s"
  return $rc
}

# 1. checkpoints
M13=$W/models/opt-1.3b-random
# A checkpoint the user made where the experiment looks (not our link) is used as it is.
[ -f runs/models/opt-1.3b-random/config.json ] && [ ! -L runs/models/opt-1.3b-random ] && M13=$PWD/runs/models/opt-1.3b-random
M67=$W/models/opt-6.7b-random
[ -f "$M13/config.json" ] || measure make_opt-1.3b python3 scripts/make_random_opt.py --shape opt-1.3b "$M13" \
  --device cuda --dtype float16 --force
[ -L runs/models/opt-1.3b-random ] || [ ! -e runs/models/opt-1.3b-random ] && ln -sfn "$M13" runs/models/opt-1.3b-random
if [ -z "${DEJAVU_SCALE_SKIP_67B:-}" ] && [ ! -f "$M67/config.json" ]; then
  measure make_opt-6.7b python3 scripts/make_random_opt.py --shape opt-6.7b "$M67" --device cuda --dtype float16 --force
fi

# 2. disk write rate and the dense forward
DD=$(dd if=/dev/zero of="$W/dd.bin" bs=1M count="${DEJAVU_SCALE_DD_MB:-2048}" conv=fdatasync 2>&1 | tail -1)
rm -f "$W/dd.bin"
echo "dd: $DD" | tee -a "$LOG"
TEST=$DATA/wikitext-2/test.txt
VALID=$DATA/wikitext-2/valid.txt
for m in "$M13" "$M67"; do
  [ -f "$m/config.json" ] || continue
  n=$(basename "$m")
  measure "ppl_$n" sh -c "'$DEJAVU' perplexity --model '$m' --text '$TEST' --device cuda --dtype float16 \
    --max-tokens 32768 --seq-len 2048 --batch 4 --json >'$W/ppl_$n.json'"
done

# 3. the opt-1.3b experiment, stage by stage, then once whole (every stage unchanged: skipped)
EXP=$W/scale-opt-1.3b.yaml
sed "s#\.\./shared/data#$DATA#g" experiments/scale-opt-1.3b.yaml >"$EXP"
RUN13=$W/runs/scale-opt-1.3b
rm -rf "$RUN13"
for s in collect train measure eval bench; do
  measure "opt-1.3b_$s" "$DEJAVU" run "$EXP" --out "$RUN13" --only "$s"
done
measure opt-1.3b_rerun "$DEJAVU" run "$EXP" --out "$RUN13"
SKIPPED=$(awk '/^### opt-1.3b_rerun/ {f = 1} f' "$LOG" | grep -c "unchanged since its last run, skipped")
echo "step_scale: the whole run afterwards skipped $SKIPPED of 5 stages as unchanged" | tee -a "$LOG"
cp "$RUN13/bench/bench.json" "$OUT/bench_opt-1.3b.json" 2>/dev/null
for s in collect train measure eval bench; do  # each stage's record: start, end, wall and CPU time, commit
  cp "$RUN13/$s/stage_run.json" "$OUT/stage_run_opt-1.3b_$s.json" 2>/dev/null
done

# 4. collect + train on the opt-6.7b shape
RUN67=$W/runs/scale-opt-6.7b
if [ -f "$M67/config.json" ]; then
  EXP67=$W/scale-opt-6.7b.yaml
  cat >"$EXP67" <<YAML
name: scale-opt-6.7b
model: $M67
device: cuda
dtype: float16
collect: {text: $VALID, max_tokens: 4096, seq_len: 1024, sample_every: 4, batch_windows: 4}
train: {epochs: 2, patience: 1}
YAML
  rm -rf "$RUN67"
  for s in collect train; do
    measure "opt-6.7b_$s" "$DEJAVU" run "$EXP67" --out "$RUN67" --only "$s"
  done
fi

python3 - "$MEAS" "$W" "$OUT" "$DD" "$RUN13" "$RUN67" "$SKIPPED" <<'PY'
import json, os, re, sys
meas, w, out, dd, run13, run67, skipped = sys.argv[1:]
rows = {}
for line in open(meas):
    name, rc, wall, rss, gpu = line.rstrip("\n").split("\t")
    rows[name] = dict(rc=int(rc), wall_s=float(wall), peak_rss_mb=int(rss), peak_gpu_mib=int(gpu))
m = re.search(r"([\d.]+) (GB|MB|kB)/s", dd)
disk = float(m.group(1)) * {"GB": 1000, "MB": 1, "kB": 1e-3}[m.group(2)] if m else None

def store_rows(run):
    p = os.path.join(run, "collect", "acts.h5")
    try:
        import h5py
        with h5py.File(p, "r") as f:
            n = int(f.attrs["rows_committed"]) if "rows_committed" in f.attrs else f["tokens/token_id"].shape[0]
            return n, os.path.getsize(p)
    except Exception:
        return None, os.path.getsize(p) if os.path.exists(p) else None

def ppl(name):
    try:
        return json.load(open(os.path.join(w, f"ppl_{name}.json")))
    except Exception:
        return {}

tokens = {"opt-1.3b": 16384, "opt-6.7b": 4096}
table = []
for shape, run in (("opt-1.3b", run13), ("opt-6.7b", run67)):
    n_rows, store_bytes = store_rows(run)
    dense = ppl(f"{shape}-random").get("tokens_per_second")
    for stage in ("collect", "train", "measure", "eval", "bench", "rerun"):
        r = rows.get(f"{shape}_{stage}")
        if r is None:
            continue
        rate = ""
        if stage == "collect" and r["wall_s"] > 0 and r["rc"] == 0:
            rate = f"{tokens[shape] / r['wall_s']:.0f} tokens/s"
            if n_rows: rate += f", {n_rows / r['wall_s']:.0f} rows/s"
            if store_bytes: rate += f", store {store_bytes / 1e6 / r['wall_s']:.1f} MB/s ({store_bytes / 1e6:.0f} MB)"
        if stage in ("train", "measure") and n_rows and r["wall_s"] > 0 and r["rc"] == 0:
            rate = f"{n_rows / r['wall_s']:.0f} rows/s (x layers)"
        table.append(dict(shape=shape, stage=stage, **r, rate=rate, dense_forward_tokens_per_s=dense,
                          disk_write_mb_s=disk))
for name in ("make_opt-1.3b", "make_opt-6.7b", "ppl_opt-1.3b-random", "ppl_opt-6.7b-random"):
    if name in rows:
        table.append(dict(shape=name.split("_")[-1].replace("-random", ""), stage=name.split("_")[0], **rows[name],
                          rate="", dense_forward_tokens_per_s=ppl(name[4:]).get("tokens_per_second") if name.startswith("ppl") else None,
                          disk_write_mb_s=disk))
bench = []
try:
    for r in json.load(open(os.path.join(run13, "bench", "bench.json")))["rows"]:
        bench.append({k: r[k] for k in ("engine", "mlp_density", "head_density", "median_ms", "floor_ms", "speedup_vs_dense")})
except Exception:
    pass
doc = dict(disk_write=dd, disk_write_mb_s=disk, rerun_stages_skipped=int(skipped), rows=table, bench_opt_1_3b=bench)
json.dump(doc, open(os.path.join(out, "scale_summary.json"), "w"), indent=1)
lines = [f"disk write (dd 2 GB, fdatasync): {dd}", f"a whole `dejavu run` afterwards skipped {skipped} of 5 stages", "",
         "| shape | stage | rc | wall s | rate | peak RSS MB | peak GPU MiB | dense forward tokens/s |",
         "| --- | --- | --- | --- | --- | --- | --- | --- |"]
for r in table:
    d = r["dense_forward_tokens_per_s"]
    lines.append(f"| {r['shape']} | {r['stage']} | {r['rc']} | {r['wall_s']:.1f} | {r['rate']} | {r['peak_rss_mb']} | "
                 f"{r['peak_gpu_mib']} | {d if d is None else round(d)} |")
if bench:
    lines += ["", "bench (opt-1.3b, batch 1, real selections):", "", "| engine | mlp | heads | ms/token | floor ms | x vs dense |",
              "| --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {b['engine']} | {b['mlp_density']} | {b['head_density']} | {b['median_ms']:.3f} | {b['floor_ms']:.3f} | "
              f"{b['speedup_vs_dense']:.2f} |" for b in bench]
open(os.path.join(out, "scale_summary.md"), "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
echo "step_scale: done in $(( $(date +%s) - T0 )) s; $OUT/scale_summary.md"
