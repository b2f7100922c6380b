#!/usr/bin/env bash
# Configures and builds dejavu-cpp into build/ (or $DEJAVU_BUILD_DIR): every target, or $DEJAVU_BUILD_TARGETS.
set -euo pipefail
cd "$(dirname "$0")/.."
# ccache (when installed) hashes paths relative to the checkout, so any clone reuses the same objects.
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD} CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-1}
export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-20G}
# The torch targets share a precompiled header; ccache caches those compiles only with this sloppiness.
export CCACHE_SLOPPINESS=${CCACHE_SLOPPINESS:-pch_defines,time_macros,include_file_mtime,include_file_ctime}
build_dir=${DEJAVU_BUILD_DIR:-build}
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
[ -f "$build_dir/CMakeCache.txt" ] && generator=()
cmake -S . -B "$build_dir" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release "$@"
# DEJAVU_BUILD_TARGETS (e.g. "dejavu"): build only those targets (the quick start needs no test binaries).
targets=()
for t in ${DEJAVU_BUILD_TARGETS:-}; do targets+=(--target "$t"); done
start=$(date +%s)
cmake --build "$build_dir" -j "$(nproc)" "${targets[@]}"
echo "build: $(( $(date +%s) - start )) s on $(nproc) cores"
