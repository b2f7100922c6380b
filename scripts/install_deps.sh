#!/usr/bin/env bash
# Installs everything dejavu-cpp builds and tests with, on Debian bookworm (this project's machines
# and CI). Idempotent: a second run only checks. Needs root (or sudo) for apt-get.
#   Debian: cmake, ninja, ccache (rebuilds and CI reuse objects), HDF5 (C), yaml-cpp, fmt, Eigen, GoogleTest, nlohmann-json, CLI11, Google Benchmark,
#           chromium (headless: the report layout test renders report.html as a reader's browser does)
#   PyPI:   torch==2.11.0 (LibTorch for CMake; built for CUDA 13.0 like the GPU machine), numpy,
#           transformers + safetensors (parity tests), h5py (HDF5 layout test), matplotlib (plots),
#           lm-eval[hf]==0.4.13 (the task parity test; 0.4.9 and older do not import with transformers 5; ~35 s;
#           its [hf] extra brings accelerate, without which lm-eval's Hugging Face backend does not import)
set -euo pipefail

APT_PACKAGES=(cmake ninja-build g++ libhdf5-dev hdf5-tools libyaml-cpp-dev libfmt-dev libeigen3-dev libgtest-dev
  nlohmann-json3-dev libcli11-dev libbenchmark-dev xz-utils clang libclang-rt-14-dev ccache chromium)
PY_PACKAGES=(torch==2.11.0 numpy transformers safetensors h5py matplotlib "lm-eval[hf]==0.4.13")

sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install_deps: apt-get install ${missing[*]}"
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! python3 - <<'PY' 2>/dev/null; then
import importlib, sys
import torch
assert torch.__version__.startswith("2.11.0"), torch.__version__
for m in ("numpy", "transformers", "safetensors", "h5py", "matplotlib", "accelerate"):
    importlib.import_module(m)
from importlib.metadata import version
assert version("lm_eval") == "0.4.13", version("lm_eval")
PY
  echo "install_deps: pip install ${PY_PACKAGES[*]}"
  python3 -m pip install -q --disable-pip-version-check "${PY_PACKAGES[@]}"
fi
echo "install_deps: ok (torch $(python3 -c 'import torch;print(torch.__version__)'))"
