"""Serving throughput with completion recording on vs off (the baseline), measured in the same run.

    python bench/completion_log_overhead.py                  # 300 requests × 2 rounds each way, builtin:tiny
    python bench/completion_log_overhead.py --requests 1000 --rounds 3

Recording puts a record on a bounded queue per answered request and a background thread writes them in
batches (serve/completion_log.py), so throughput with it on should stay within noise of it off (target
≥ 0.95×). The configurations alternate (off, on, off, on, ...) on one registry, each on a fresh server,
and the medians are compared. Also reports how many records were written and dropped.
"""

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import typer
from common import machine_description, write_results
from rich.console import Console
from rich.table import Table
from serve_load import build_registry, drive, metric_values, percentile

from adaptlab.serve.config import ServeConfig
from adaptlab.serve.server import running_server

TARGET_RATIO = 0.95


def one_round(root: Path, model: str, models: list[str], token: str, record: bool, requests: int, concurrency: int) -> dict:
    config = ServeConfig(
        model=model,
        registry=root / "registry",
        port=0,
        max_batch_size=16,
        max_concurrent_requests=concurrency,
        max_concurrent_per_tenant=concurrency,
        torch_threads=1,
        record_completions=record,
    )
    with running_server(config) as server:
        started = time.perf_counter()
        latencies, _tokens, errors = asyncio.run(drive(server.url, token, models, requests, concurrency, max_tokens=16))
        wall_s = time.perf_counter() - started
        if server.runtime.completions is not None:
            server.runtime.completions.close()  # drain, so the counts below are final
        metrics = httpx.get(f"{server.url}/metrics").text
    counts = {name: sum(metric_values(metrics, f"adaptlab_serve_completion_records_{name}_total").values()) for name in ("written", "dropped")}
    return {"requests_per_s": len(latencies) / wall_s, "latency_p95_s": percentile(latencies, 0.95), "errors": errors, **counts}


def main(
    model: str = typer.Option("builtin:tiny", help="base model spec"),
    requests: int = typer.Option(300, min=1, help="requests per round"),
    rounds: int = typer.Option(2, min=1, help="rounds per configuration (alternating)"),
    concurrency: int = typer.Option(16, min=1, help="requests in flight at once"),
) -> None:
    console = Console()
    runs: dict[bool, list[dict]] = {False: [], True: []}
    with tempfile.TemporaryDirectory(prefix="adaptlab-bench-") as scratch:
        root = Path(scratch)
        models, token = build_registry(root, model, adapters=4)
        for round_index in range(rounds):
            for record in (False, True):
                with console.status(f"round {round_index + 1}/{rounds}, recording {'on' if record else 'off'}…"):
                    runs[record].append(one_round(root, model, models, token, record, requests, concurrency))
    medians = {record: {key: statistics.median(run[key] for run in runs[record]) for key in runs[record][0]} for record in runs}
    ratio = medians[True]["requests_per_s"] / medians[False]["requests_per_s"]
    table = Table("figure (median of rounds)", "recording off", "recording on", title=f"completion recording overhead ({model})")
    for key in medians[False]:
        table.add_row(key, f"{medians[False][key]:.4g}", f"{medians[True][key]:.4g}")
    console.print(table)
    verdict = "meets" if ratio >= TARGET_RATIO else "misses"
    console.print(f"throughput with recording on: [bold]{ratio:.3f}×[/] of off ({verdict} the ≥ {TARGET_RATIO}× target)")
    payload = {
        "machine": machine_description(),
        "model": model,
        "requests": requests,
        "rounds": rounds,
        "concurrency": concurrency,
        "off": runs[False],
        "on": runs[True],
        "throughput_ratio": ratio,
        "target_ratio": TARGET_RATIO,
    }
    console.print(f"wrote {write_results('completion_log_overhead', payload)}")


if __name__ == "__main__":
    typer.run(main)
