#!/usr/bin/env bash
# README's second command: install dependencies, build, and run the whole ctest suite
# (GPU tests skip themselves when no GPU is present).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
bash scripts/build.sh
cd build
ctest --output-on-failure -j "$(nproc)" --timeout 900
