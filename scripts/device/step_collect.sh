#!/usr/bin/env bash
# step_collect.sh OUT_DIR CHECKPOINT_DIR: collection, store and train throughput on the GPU machine, beside
# what bounds them, all measured in this one call: the disk's write rate (dd, 2 GiB, fdatasync), the dense
# forward's tokens/s (`dejavu perplexity --device cuda --dtype float16`), then `dejavu collect` at
# sample_every 1 (seq 2048, 4 windows a batch) without gzip, with gzip compressed on every core (the default)
# and with gzip on one compression thread, with peak host RSS and GPU memory, and `dejavu train --device cuda`
# on the store (rows/s). CHECKPOINT_DIR: e.g. a random-weight opt-1.3b from scripts/make_random_opt.py.
# Text: $DEJAVU_DATA_DIR/wikitext-2/{valid,test}.txt. About 4 minutes for opt-1.3b; DEJAVU_COLLECT_TOKENS
# (default 32768) sizes the raw and all-core gzip runs, DEJAVU_GZIP_TOKENS (8192) the one-thread gzip run.
# Prints a summary, ending with one line to quote (collect's tokens/s against the goal: the lower of 25% of
# the dense forward and the disk's rate in tokens/s at the stored bytes per token), and writes
# OUT_DIR/collect_summary.txt plus the logs.
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

# 3. collect at sample_every 1: raw chunks, gzip on every core (--compress-threads 0), gzip on one thread.
run_collect() {  # name tokens compression compress_threads
  local name=$1 tokens=$2 comp=$3 threads=$4 store="$WORK/$1.h5"
  rm -f "$store" "$store.partial" "$store.partial.log"
  gpu_peak_start
  $TIMEV "$BIN" collect --model "$MODEL" --text "$DATA/wikitext-2/valid.txt" --out "$store" --device cuda \
    --dtype float16 --seq-len 2048 --sample-every 1 --batch-windows 4 --max-tokens "$tokens" \
    --compression "$comp" --compress-threads "$threads" >"$WORK/$name.out" 2>"$WORK/$name.log"
  local rc=$? gpu
  gpu=$(gpu_peak_stop)
  stat -c %s "$store" >"$WORK/$name.bytes" 2>/dev/null
  note "collect $comp, compress threads $threads (0 = one per core) (sample_every 1, $tokens tokens): rc $rc; $(tail -1 "$WORK/$name.out"); peak RSS $(peak_rss "$WORK/$name.log"); peak GPU ${gpu} MiB"
  [ $rc -eq 0 ] || tail -3 "$WORK/$name.log" | tee -a "$SUM"
}
run_collect raw "$TOKENS" none 0
run_collect gz "$TOKENS" gzip 0
rm -f "$WORK/gz.h5"
run_collect gz1 "$GZ_TOKENS" gzip 1
rm -f "$WORK/gz1.h5"

# The line to quote: each collect's tokens/s against the goal, the lower of 25% of the dense forward and the
# disk's write rate in tokens/s at that run's stored bytes per token.
python3 - "$WORK" "$(nproc)" <<'PY' | tee -a "$SUM"
import json, re, sys
work, cores = sys.argv[1], sys.argv[2]
def tps(name):
    try:
        m = re.search(r"; (\d+) tokens in [\d.]+ s \(([\d.]+) tokens/s", open(f"{work}/{name}.out").read())
        return int(m.group(1)), float(m.group(2))
    except (OSError, AttributeError):
        return None
try:
    dense = json.load(open(f"{work}/dense.json"))["tokens_per_second"]
    m = re.search(r"(\d+) bytes .* copied, ([\d.]+) s", open(f"{work}/dd.log").read())
    disk = int(m.group(1)) / float(m.group(2))
except (OSError, KeyError, AttributeError, ValueError) as e:
    print(f"SUMMARY collect: no goal ({e})")
    sys.exit(0)
parts = []
for name, what in (("gz", f"gzip on {cores} cores"), ("gz1", "gzip on 1 thread"), ("raw", "none")):
    r = tps(name)
    if r is None:
        parts.append(f"{what} failed")
        continue
    tokens, rate = r
    per_token = int(open(f"{work}/{name}.bytes").read()) / tokens
    goal = min(0.25 * dense, disk / per_token)
    parts.append(f"{what} {rate:.0f} tokens/s ({rate * per_token / 1e6:.0f} MB/s written) = {100 * rate / goal:.0f}% "
                 f"of the goal {goal:.0f} tokens/s")
print(f"SUMMARY collect opt-1.3b shape, sample_every 1: {'; '.join(parts)} (goal = min(25% of the dense forward "
      f"{dense:.0f} tokens/s, disk {disk / 1e6:.0f} MB/s / stored bytes per token))")
PY

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
