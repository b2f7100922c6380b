#!/usr/bin/env bash
# step_collect.sh OUT_DIR CHECKPOINT_DIR: collection, store and train throughput on the GPU machine, beside
# what bounds them, all measured in this one call: the disk's write rate (dd, 2 GiB, fdatasync), the dense
# forward's tokens/s (`dejavu perplexity --device cuda --dtype float16`), then `dejavu collect` at
# sample_every 1 (seq 2048, 4 windows a batch) without and with gzip, with peak host RSS and GPU memory,
# and `dejavu train --device cuda` on the store (rows/s). CHECKPOINT_DIR: e.g. a random-weight opt-1.3b
# from scripts/make_random_opt.py. Text: $DEJAVU_DATA_DIR/wikitext-2/{valid,test}.txt. About 3 minutes
# for opt-1.3b; DEJAVU_COLLECT_TOKENS (default 32768) and DEJAVU_GZIP_TOKENS (8192) size the runs.
# Prints a summary and writes OUT_DIR/collect_summary.txt plus the logs.
set -uo pipefail
OUT=${1:?usage: step_collect.sh OUT_DIR CHECKPOINT_DIR}
MODEL=${2:?usage: step_collect.sh OUT_DIR CHECKPOINT_DIR}
DATA=${DEJAVU_DATA_DIR:-../shared/data}
BIN=${DEJAVU_BIN:-build/dejavu}
TOKENS=${DEJAVU_COLLECT_TOKENS:-32768}
GZ_TOKENS=${DEJAVU_GZIP_TOKENS:-8192}
WORK=${DEJAVU_COLLECT_WORK:-$OUT/collect-work}
mkdir -p "$OUT" "$WORK"
SUM="$OUT/collect_summary.txt"
: >"$SUM"
note() { echo "$*" | tee -a "$SUM"; }
note "step_collect: $(date -u +%FT%TZ) model $MODEL, $(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null | head -1)"

# Peak GPU memory of a command: nvidia-smi sampled every 0.2 s in the background.
gpu_peak_start() { (while true; do nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits 2>/dev/null | head -1; sleep 0.2; done) >"$WORK/gpu_mem.txt" & GPU_PID=$!; }
gpu_peak_stop() { kill "$GPU_PID" 2>/dev/null; wait "$GPU_PID" 2>/dev/null; sort -n "$WORK/gpu_mem.txt" | tail -1; }
TIMEV=""
[ -x /usr/bin/time ] && TIMEV="/usr/bin/time -v"
peak_rss() { grep -m1 "Maximum resident set size" "$1" 2>/dev/null | awk '{printf "%.0f MiB", $NF/1024}'; }

# 1. Disk write rate where the store goes.
dd if=/dev/zero of="$WORK/dd.bin" bs=16M count=128 conv=fdatasync 2>"$WORK/dd.log"
rm -f "$WORK/dd.bin"
note "disk write (dd 2 GiB, fdatasync, $WORK): $(tail -1 "$WORK/dd.log" | awk -F, '{print $NF}')"

# 2. The dense forward, fp16, the same window length.
"$BIN" perplexity --model "$MODEL" --text "$DATA/wikitext-2/test.txt" --device cuda --dtype float16 \
  --seq-len 2048 --max-tokens "$TOKENS" --json >"$WORK/dense.json" 2>"$WORK/dense.log"
note "dense forward: $(python3 -c "import json;j=json.load(open('$WORK/dense.json'));print(f\"{j['tokens_per_second']:.0f} tokens/s ({j['tokens']} tokens, {j['seconds']:.1f} s)\")" 2>&1)"

# 3. collect at sample_every 1, raw chunks and gzip.
run_collect() {  # name tokens compression
  local name=$1 tokens=$2 comp=$3 store="$WORK/$1.h5"
  rm -f "$store" "$store.partial" "$store.partial.log"
  gpu_peak_start
  $TIMEV "$BIN" collect --model "$MODEL" --text "$DATA/wikitext-2/valid.txt" --out "$store" --device cuda \
    --dtype float16 --seq-len 2048 --sample-every 1 --batch-windows 4 --max-tokens "$tokens" \
    --compression "$comp" >"$WORK/$name.out" 2>"$WORK/$name.log"
  local rc=$? gpu
  gpu=$(gpu_peak_stop)
  note "collect $comp (sample_every 1, $tokens tokens): rc $rc; $(tail -1 "$WORK/$name.out"); peak RSS $(peak_rss "$WORK/$name.log"); peak GPU ${gpu} MiB"
  [ $rc -eq 0 ] || tail -3 "$WORK/$name.log" | tee -a "$SUM"
}
run_collect raw "$TOKENS" none
run_collect gz "$GZ_TOKENS" gzip
rm -f "$WORK/gz.h5"

# 4. train on cuda from the raw store: 4 layers, 2 epochs.
gpu_peak_start
$TIMEV "$BIN" train --acts "$WORK/raw.h5" --out "$WORK/pred" --device cuda --layers 0,1,2,3 --epochs 2 \
  --patience 2 --no-progress >"$WORK/train.out" 2>"$WORK/train.log"
rc=$?
gpu=$(gpu_peak_stop)
note "train cuda (4 layers, 2 epochs): rc $rc; $(tail -1 "$WORK/train.out"); peak RSS $(peak_rss "$WORK/train.log"); peak GPU ${gpu} MiB"
rm -rf "$WORK/raw.h5" "$WORK/pred"
echo "---- summary ($SUM)"
cat "$SUM"
