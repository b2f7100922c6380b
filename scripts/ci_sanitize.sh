#!/usr/bin/env bash
# CI's second half (called by .ci/run after scripts/test.sh): the torch-free test binaries built with
# ASan+UBSan and run with halt_on_error, then every libFuzzer target of tests/fuzz built with clang and run
# for a fixed number of inputs over its committed seed corpus. Prints a summary (tests, fuzz executions) and
# exits non-zero on any finding. Budget: under 20 minutes on 2 cores.
# The fuzz runs are reproducible: a fixed seed and input count, corpus reload off and, where the kernel lets
# us, address-space randomisation off (setarch -R), so the same commit explores the same inputs here and in
# CI, and a gate that passed locally passes there. A time-bounded run explores a different number of inputs
# on every machine; longer exploratory runs: DEJAVU_FUZZ_SEED=N DEJAVU_FUZZ_RUNS=M.
#   DEJAVU_FUZZ_RUNS      inputs per fuzz target (default: per target, about 50 s each on CI's cores)
#   DEJAVU_FUZZ_SECONDS   time cap per fuzz target (default 300); DEJAVU_FUZZ_SEED libFuzzer seed (default 1)
#   DEJAVU_ASAN_DIR, DEJAVU_FUZZ_DIR   build directories (default build-asan, build-fuzz)
#   DEJAVU_DATA_DIR       shared data (default ../shared/data): the GPT-2 files for the tokenizer fuzzer
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
start=$(date +%s)
jobs=$(nproc)
fuzz_seconds=${DEJAVU_FUZZ_SECONDS:-300}
asan_dir=${DEJAVU_ASAN_DIR:-build-asan}
fuzz_dir=${DEJAVU_FUZZ_DIR:-build-fuzz}
data_dir=${DEJAVU_DATA_DIR:-$root/../shared/data}
# Scratch files of the fuzzers (one written per execution) go to memory when it can be had.
scratch_parent=${TMPDIR:-/tmp}
[ -d /dev/shm ] && [ -w /dev/shm ] && scratch_parent=/dev/shm
scratch=$(mktemp -d "$scratch_parent/dv_ci_sanitize.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
export TMPDIR=$scratch

failures=()
summary=()
note() { echo "ci_sanitize: $*"; }
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)

# ---- 1. ASan + UBSan build of the torch-free test binaries -------------------------------------------
# The top-level project configures with LibTorch (it is not instrumented, so nothing linking it is run
# here); only these targets are built. CUDA is off: nothing here runs on a GPU.
asan_targets=(io_tests tokenizer_tests store_tests experiment_tests)
phase=$(date +%s)
[ -f "$asan_dir/CMakeCache.txt" ] && generator_asan=() || generator_asan=("${generator[@]}")
mkdir -p "$asan_dir"
if ! cmake -S . -B "$asan_dir" "${generator_asan[@]}" -DDEJAVU_SANITIZE=ON -DDEJAVU_CUDA=OFF \
    -DDEJAVU_KERNEL_DIRS=common -DCMAKE_BUILD_TYPE=Debug "-DCMAKE_CXX_FLAGS_DEBUG=-O1 -g" >"$asan_dir/ci_configure.log" 2>&1; then
  cat "$asan_dir/ci_configure.log"
  failures+=("asan: configure failed")
else
  present=()
  for t in "${asan_targets[@]}"; do
    if cmake --build "$asan_dir" --target help 2>/dev/null | grep -qE "(^|[ :])$t(:|$| )"; then
      present+=("$t")
    else
      note "asan: no target $t in this tree, skipped"
    fi
  done
  # One target at a time, so that one that fails to build does not stop the others being checked.
  built=()
  for t in "${present[@]}"; do
    if cmake --build "$asan_dir" -j "$jobs" --target "$t"; then
      built+=("$t")
    else
      failures+=("asan: $t does not build")
      summary+=("$(printf '%-24s FAIL  build' "$t")")
    fi
  done
  present=("${built[@]}")
  note "asan build: $(( $(date +%s) - phase )) s"
  export ASAN_OPTIONS=halt_on_error=1:detect_leaks=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1
  export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
  for t in "${present[@]}"; do
    bin=$(find "$asan_dir" -type f -name "$t" -perm -u+x | head -n 1)
    log="$asan_dir/$t.sanitize.log"
    t0=$(date +%s)
    # Working directory and environment as ctest gives them (tests/CMakeLists.txt).
    DEJAVU_SOURCE_DIR=$root DEJAVU_BIN=$root/$asan_dir/dejavu "$bin" --gtest_brief=1 >"$log" 2>&1
    rc=$?
    passed=$(grep -oE '\[  PASSED  \] [0-9]+' "$log" | grep -oE '[0-9]+$' || echo 0)
    skipped=$(grep -oE '\[  SKIPPED \] [0-9]+' "$log" | head -n 1 | grep -oE '[0-9]+$' || echo 0)
    if [ $rc -ne 0 ] || grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$log"; then
      tail -n 60 "$log"
      failures+=("asan: $t (exit $rc, log $log)")
      summary+=("$(printf '%-24s FAIL  exit %s' "$t" "$rc")")
    else
      summary+=("$(printf '%-24s ok    %s passed, %s skipped, %s s' "$t" "${passed:-0}" "${skipped:-0}" $(( $(date +%s) - t0 )))")
    fi
  done
fi
note "asan phase: $(( $(date +%s) - phase )) s"

# ---- 2. libFuzzer targets -----------------------------------------------------------------------------
phase=$(date +%s)
if ! command -v clang++ >/dev/null; then
  failures+=("fuzz: clang++ not found (scripts/install_deps.sh installs clang and libclang-rt-14-dev)")
else
  [ -f "$fuzz_dir/CMakeCache.txt" ] && generator_fuzz=() || generator_fuzz=("${generator[@]}")
  mkdir -p "$fuzz_dir"
  if ! cmake -S tests/fuzz -B "$fuzz_dir" "${generator_fuzz[@]}" -DCMAKE_CXX_COMPILER=clang++ >"$fuzz_dir/ci_configure.log" 2>&1 ||
     ! cmake --build "$fuzz_dir" -j "$jobs"; then
    cat "$fuzz_dir/ci_configure.log" 2>/dev/null
    failures+=("fuzz: build failed")
  else
    note "fuzz build: $(( $(date +%s) - phase )) s"
    # The encode fuzzer uses the real GPT-2 vocabulary and merges when the shared data has them.
    if [ -f "$data_dir/gpt2-bpe/encoder.json" ] &&
       python3 scripts/make_tokenizer_files.py "$scratch/gpt2_tokenizer" --src "$data_dir/gpt2-bpe" >/dev/null; then
      export DEJAVU_FUZZ_TOKENIZER_DIR=$scratch/gpt2_tokenizer
    else
      note "fuzz: $data_dir/gpt2-bpe not found, the tokenizer fuzzer uses its tiny built-in vocabulary"
    fi
    mkdir -p "$fuzz_dir/artifacts"
    targets=()
    for bin in "$fuzz_dir"/fuzz_*; do
      [ -f "$bin" ] && [ -x "$bin" ] && targets+=("$(basename "$bin")")
    done
    # Inputs per target: about 50 s each at the rates CI measured (a fuzzer reading real files is slower).
    fuzz_runs() {
      [ -n "${DEJAVU_FUZZ_RUNS:-}" ] && { echo "$DEJAVU_FUZZ_RUNS"; return; }
      case $1 in
        fuzz_safetensors_header) echo 500000 ;;
        fuzz_opt_config) echo 400000 ;;
        fuzz_tokenizer_encode) echo 300000 ;;
        fuzz_checkpoint_index) echo 150000 ;;
        fuzz_experiment_yaml) echo 100000 ;;
        *) echo 60000 ;;
      esac
    }
    no_aslr=()
    if setarch -R true 2>/dev/null; then no_aslr=(setarch -R); else note "fuzz: setarch -R refused, runs are seeded but not bit-for-bit reproducible"; fi
    run_fuzzer() {  # name: fuzz_<target>, seed corpus tests/fuzz/corpus/<target>
      local name=$1 target=${1#fuzz_}
      local work="$scratch/corpus_$target"
      mkdir -p "$work"
      "${no_aslr[@]}" "$fuzz_dir/$name" "$work" "tests/fuzz/corpus/$target" -runs="$(fuzz_runs "$name")" \
        -max_total_time="$fuzz_seconds" -seed="${DEJAVU_FUZZ_SEED:-1}" -reload=0 -rss_limit_mb=2048 -timeout=30 \
        -print_final_stats=1 -artifact_prefix="$fuzz_dir/artifacts/$name-" >"$fuzz_dir/$name.log" 2>&1
      echo $? >"$fuzz_dir/$name.rc"
    }
    # As many fuzzers at a time as there are cores.
    running=0
    for name in "${targets[@]}"; do
      [ -d "tests/fuzz/corpus/${name#fuzz_}" ] || failures+=("fuzz: $name has no seed corpus tests/fuzz/corpus/${name#fuzz_}")
      run_fuzzer "$name" &
      running=$((running + 1))
      if [ $running -ge "$jobs" ]; then
        wait -n
        running=$((running - 1))
      fi
    done
    wait
    for name in "${targets[@]}"; do
      rc=$(cat "$fuzz_dir/$name.rc" 2>/dev/null || echo 1)
      runs=$(grep -oE 'stat::number_of_executed_units: [0-9]+' "$fuzz_dir/$name.log" | grep -oE '[0-9]+$' || echo '?')
      if [ "$rc" -ne 0 ]; then
        grep -E 'ERROR|SUMMARY|runtime error|Test unit written|error message does not name' "$fuzz_dir/$name.log" | head -n 20
        tail -n 40 "$fuzz_dir/$name.log"
        failures+=("fuzz: $name (exit $rc, log $fuzz_dir/$name.log, artifacts $fuzz_dir/artifacts/)")
        summary+=("$(printf '%-24s FAIL  exit %s after %s executions' "$name" "$rc" "$runs")")
      else
        secs=$(grep -oE 'Done [0-9]+ runs in [0-9]+ second' "$fuzz_dir/$name.log" | grep -oE '[0-9]+ second' | grep -oE '[0-9]+' || echo '?')
        cap=""
        [ "$runs" != "$(fuzz_runs "$name")" ] && cap=" (stopped at the ${fuzz_seconds} s cap, not the planned $(fuzz_runs "$name"))"
        summary+=("$(printf '%-24s ok    %s executions in %s s, seed %s%s' "$name" "$runs" "$secs" "${DEJAVU_FUZZ_SEED:-1}" "$cap")")
      fi
    done
  fi
fi
note "fuzz phase: $(( $(date +%s) - phase )) s"

echo "==== ci_sanitize summary ($(( $(date +%s) - start )) s on $jobs cores) ===="
for line in "${summary[@]}"; do echo "  $line"; done
if [ ${#failures[@]} -gt 0 ]; then
  echo "FAILED:"
  for f in "${failures[@]}"; do echo "  $f"; done
  exit 1
fi
echo "ci_sanitize: clean"
