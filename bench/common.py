"""Shared pieces of the training benches: fresh-process workers, the machine's matmul peak, model FLOPs,
benchmark data, adaptlab runs, and result files.

Every measured configuration runs in its own process (`python bench/<name>.py --worker SPEC_JSON`),
because peak RSS is a per-process high-water mark; the worker prints one `BENCH_RESULT {json}` line.
"""

import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import psutil
from rich.console import Console

from adaptlab import atomic
from adaptlab.errors import AdaptlabError
from adaptlab.train.environment import peak_rss_bytes

RESULT_PREFIX = "BENCH_RESULT "
RESULTS_DIR = Path(__file__).resolve().parent / "results"
ALPACA_DEMO = Path(__file__).resolve().parents[2] / "shared" / "data" / "alpaca_en_demo.json"


class BenchError(AdaptlabError):
    """A bench cannot run as asked (missing data, a worker that failed)."""


# --- fresh-process workers ---


def run_worker(script: Path, spec: dict, console: Console, timeout_s: float = 1800) -> dict:
    """Run `script --worker SPEC` in a fresh process; return the dict it printed on its BENCH_RESULT line."""
    command = [sys.executable, str(script), "--worker", json.dumps(spec)]
    env = os.environ | {"PYTHONUNBUFFERED": "1"}
    completed = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, env=env, check=False)
    results = [line[len(RESULT_PREFIX) :] for line in completed.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if completed.returncode != 0 or not results:
        tail = "\n".join((completed.stdout + completed.stderr).splitlines()[-25:])
        raise BenchError(f"worker {spec.get('name')} failed (exit {completed.returncode}):\n{tail}")
    return json.loads(results[-1])


def emit_result(result: dict) -> None:
    print(RESULT_PREFIX + json.dumps(result), flush=True)


def current_rss_bytes() -> int:
    return psutil.Process().memory_info().rss


# --- the machine's matmul peak and model FLOPs ---


def measured_matmul_peak_flops(dtype_name: str, size: int = 2048, seconds: float = 3.0) -> float:
    """Best FLOP/s of repeated square torch.matmul in `dtype_name` (float32 or bfloat16) on this machine."""
    import torch

    dtype = getattr(torch, dtype_name)
    a = torch.randn(size, size, dtype=dtype)
    b = torch.randn(size, size, dtype=dtype)
    torch.matmul(a, b)  # warm-up: thread pool, kernel selection
    best_flops = 0.0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        torch.matmul(a, b)
        best_flops = max(best_flops, 2 * size**3 / (time.perf_counter() - started))
    return best_flops


def matmul_parameter_count(model) -> int:
    """N for the 6N rule: every parameter except the input embedding table (a lookup, not a matmul).
    A tied lm_head shares that table but is a matmul, so it is counted once here."""
    embedding = model.get_input_embeddings().weight
    total = sum(p.numel() for p in model.parameters())
    output = model.get_output_embeddings()
    tied = output is not None and output.weight.data_ptr() == embedding.data_ptr()
    return total if tied else total - embedding.numel()


def training_flops_per_token(method: str, matmul_params: int, adapter_params: int) -> float:
    """Full: 6N (forward 2N, activation gradients 2N, weight gradients 2N).
    LoRA family: frozen weights need no weight gradients, so 4N + 6·N_adapter. Attention scores are ignored."""
    if method == "full":
        return 6.0 * matmul_params
    return 4.0 * matmul_params + 6.0 * adapter_params


def model_flops_utilisation(tokens_per_s: float, flops_per_token: float, peak_flops: float) -> float:
    return tokens_per_s * flops_per_token / peak_flops


# --- data ---


def quick_alpaca_rows(count: int, seed: int = 0) -> list[dict]:
    """Deterministic alpaca-format rows of varied length, for --quick runs on builtin:tiny."""
    rng = random.Random(seed)
    words = ["the", "model", "learns", "to", "answer", "short", "questions", "about", "colours", "numbers", "animals", "facts"]
    rows = []
    for index in range(count):
        instruction = " ".join(rng.choice(words) for _ in range(rng.randint(3, 12)))
        output = " ".join(rng.choice(words) for _ in range(rng.randint(4, 30)))
        rows.append({"instruction": f"{index}: {instruction}?", "input": "", "output": output})
    return rows


def split_data_files(rows: list[dict], train_rows: int, eval_rows: int, folder: Path) -> tuple[Path, Path]:
    """The first `train_rows` rows as the training file and the next `eval_rows` as the held-out file."""
    if len(rows) < train_rows + eval_rows:
        raise BenchError(f"need {train_rows + eval_rows} rows, the data has {len(rows)}; lower --train-rows/--eval-rows")
    train_file, eval_file = folder / "train.json", folder / "eval.json"
    atomic.write_json(train_file, rows[:train_rows])
    atomic.write_json(eval_file, rows[train_rows : train_rows + eval_rows])
    return train_file, eval_file


def read_alpaca_demo(path: Path = ALPACA_DEMO) -> list[dict]:
    if not path.is_file():
        raise BenchError(f"{path}: the instruction data for the full bench is missing; run with --quick, or put alpaca_en_demo.json there")
    return json.loads(path.read_text(encoding="utf-8"))


def shared_train_config(name: str, method: str, profile: dict, train_file: Path, eval_file: Path, workdir: Path) -> dict:
    """The TrainConfig keys every bench run shares: model, data, row shape, seed; benches add their own."""
    return {
        "model": profile["model"],
        "method": method,
        "out": str(workdir / name),
        "data": [str(train_file)],
        "eval_data": [str(eval_file)],
        "max_seq_len": profile["max_seq_len"],
        "micro_batch_size": profile["micro_batch_size"],
        "seed": 0,
    }


def bench_workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="adaptlab-bench-"))


# --- adaptlab runs (used by train_vs_hf and memory) ---


def adaptlab_worker(spec: dict) -> dict:
    """Train with adaptlab's own loop in this process; report throughput, peak RSS and (unless the spec's
    `evaluate` is false) the held-out loss. With `op_profile_steps` N in the spec, steps 2 … N+1 run under
    torch.profiler (ranked by memory with `op_profile_memory`) and the result carries their operator profile
    (its timings are then not clean)."""
    if spec.get("op_profile_steps"):
        from op_profile import profiled_calls

        from adaptlab.train import loop

        with profiled_calls(
            loop, "train_step", label=spec["name"], record_calls=spec["op_profile_steps"], by_memory=spec.get("op_profile_memory", False)
        ) as profile:
            result = adaptlab_worker(spec | {"op_profile_steps": 0})
        return result | {"op_profile": profile.summary()}
    import torch

    from adaptlab.data import prepare_data
    from adaptlab.eval.loss import evaluate_loss
    from adaptlab.models import load_tokenizer, resolve_model
    from adaptlab.schemas.train_config import TrainConfig
    from adaptlab.train.loop import train

    config = TrainConfig(**spec["train_config"])
    runtime_rss_bytes = current_rss_bytes()  # the libraries alone, before any model is loaded
    trained = train(config, console=Console(quiet=True))
    metrics = trained.record.metrics
    eval_loss = None
    if spec.get("evaluate", True):
        tokenizer = load_tokenizer(resolve_model(config.model).path)
        data = prepare_data(config.data, config.eval_data, tokenizer, config)
        eval_loss = evaluate_loss(trained.model, data.eval, tokenizer.pad_token_id, batch_size=4).loss if data.eval else None
    model = trained.model.get_base_model() if hasattr(trained.model, "get_base_model") else trained.model
    return {
        "name": spec["name"],
        "tokens": metrics.tokens_seen,
        "train_time_s": metrics.wall_time_s,
        "tokens_per_s": metrics.tokens_per_s,
        # the loop resets the RSS high-water mark after loading; its record keeps the loading peak
        "peak_rss_bytes": max(peak_rss_bytes(), metrics.peak_memory_bytes),
        "training_peak_rss_bytes": metrics.training_peak_memory_bytes,
        "runtime_rss_bytes": runtime_rss_bytes,
        "eval_loss": eval_loss,
        "final_train_loss": metrics.final_train_loss,
        "matmul_params": matmul_parameter_count(model),
        "trainable_params": trained.record.params.trainable,
        "steps": metrics.steps,
        "torch_threads": torch.get_num_threads(),
    }


# --- reporting ---


def machine_description() -> dict:
    import torch

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cpu_model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu_model,
        "cpu_cores": cores,
        "torch_threads": torch.get_num_threads(),
        "load_average_1m": os.getloadavg()[0],
        "measured_at": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M"),
        "torch": torch.__version__,
        "platform": platform.platform(),
    }


def write_results(name: str, payload: dict, path: Path | None = None) -> Path:
    target = path or RESULTS_DIR / f"{name}.json"
    atomic.write_json(target, payload)
    return target


def gib(value_bytes: float | None) -> str:
    return "-" if value_bytes is None else f"{value_bytes / 2**30:.2f}"


def ratio(value: float | None, reference: float | None) -> str:
    return "-" if value is None or not reference else f"{value / reference:.2f}×"
