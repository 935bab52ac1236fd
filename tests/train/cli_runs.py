"""Run `adaptlab train` as a real separate process (for kill -9 and multi-process tests)."""

import os
import subprocess
import sys
from pathlib import Path


def train_argv(data: Path, out: Path, *extra: str, launcher: tuple[str, ...] = (sys.executable, "-m", "adaptlab")) -> list[str]:
    return [
        *launcher, "train",
        "--model", "builtin:tiny", "--method", "lora", "--data", str(data), "--out", str(out),
        "--max-seq-len", "64", "--micro-batch-size", "4", "--learning-rate", "0.01", "--rank", "8", "--precision", "fp32",
        *extra,
    ]


def quiet_env() -> dict[str, str]:
    return os.environ | {"TERM": "dumb", "COLUMNS": "120", "OMP_NUM_THREADS": "1"}


def run(argv: list[str], timeout: float = 300, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=quiet_env() | (env or {}))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result
