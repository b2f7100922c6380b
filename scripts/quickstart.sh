#!/usr/bin/env bash
# README's first command: install dependencies, build, and run the main job (experiments/quickstart.yaml
# on the embedded opt-mini model; CPU when no GPU is present). Outputs land in runs/quickstart/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
# Only the `dejavu` command: the test binaries are scripts/test.sh's to build.
DEJAVU_BUILD_TARGETS=dejavu bash scripts/build.sh
./build/dejavu run experiments/quickstart.yaml "$@"
