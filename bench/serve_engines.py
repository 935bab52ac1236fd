"""Throughput of `adaptlab serve` per engine on loopback: the built-in engine (the baseline, measured in
the same run) against Ray Serve with 1 and 2 replicas, under the same load.

    python bench/serve_engines.py                      # builtin:tiny, 200 requests, 16 concurrent, 4 adapters
    python bench/serve_engines.py --requests 400 --json out.json

Each configuration gets the same throwaway registry (bench/serve_load.py builds it) and the same
request loop; the table shows requests/s, generated tokens/s, p50/p95 latency and the ratio of
requests/s to the built-in engine's. Ray runs locally (no RAY_ADDRESS): `pip install 'adaptlab[ray-serve]'`.
"""

import asyncio
import tempfile
import time
from pathlib import Path

import typer
from common import machine_description, ratio, write_results
from rich.console import Console
from rich.table import Table
from serve_load import build_registry, drive, percentile

from adaptlab.serve.config import ServeConfig
from adaptlab.serve.server import running_server

CONFIGURATIONS = {"builtin": {"engine": "builtin"}, "ray, 1 replica": {"engine": "ray", "replicas": 1}, "ray, 2 replicas": {"engine": "ray", "replicas": 2}}


def measure(config: ServeConfig, token: str, models: list[str], requests: int, concurrency: int, max_tokens: int) -> dict:
    with running_server(config) as server:
        asyncio.run(drive(server.url, token, models, len(models), len(models), max_tokens))  # every adapter loaded once first
        started = time.perf_counter()
        latencies, tokens, errors = asyncio.run(drive(server.url, token, models, requests, concurrency, max_tokens))
        wall_s = time.perf_counter() - started
    return {
        "errors": errors,
        "requests_per_s": len(latencies) / wall_s,
        "completion_tokens_per_s": tokens / wall_s,
        "latency_p50_s": percentile(latencies, 0.50),
        "latency_p95_s": percentile(latencies, 0.95),
    }


def main(
    model: str = typer.Option("builtin:tiny", help="base model spec"),
    requests: int = typer.Option(200, min=1, help="requests per configuration"),
    concurrency: int = typer.Option(16, min=1, help="requests in flight at once"),
    adapters: int = typer.Option(4, min=1, help="distinct adapters, requested round-robin"),
    max_tokens: int = typer.Option(16, min=1, help="max_tokens of each request"),
    max_batch_size: int = typer.Option(16, min=1, help="--max-batch-size of the engine (each replica's for Ray)"),
    torch_threads: int = typer.Option(1, min=1, help="--torch-threads (each replica's for Ray)"),
    replica_cpus: float = typer.Option(1.0, min=0.1, help="--ray-replica-cpus"),
    json_out: Path = typer.Option(None, "--json", help="where to write the figures (default: bench/results/serve_engines.json)"),
) -> None:
    console = Console()
    figures = {}
    with tempfile.TemporaryDirectory(prefix="adaptlab-bench-") as scratch:
        models, token = build_registry(Path(scratch), model, adapters)
        for label, engine in CONFIGURATIONS.items():
            config = ServeConfig(
                model=model,
                registry=Path(scratch) / "registry",
                port=0,
                max_batch_size=max_batch_size,
                max_concurrent_requests=concurrency,
                max_concurrent_per_tenant=concurrency,
                torch_threads=torch_threads,
                ray_replica_cpus=replica_cpus,
                **engine,
            )
            with console.status(f"{label}: {requests} requests, {concurrency} concurrent…"):
                figures[label] = measure(config, token, models, requests, concurrency, max_tokens)
            print(f"{label}: {figures[label]}", flush=True)
    baseline = figures["builtin"]["requests_per_s"]
    table = Table(title=f"adaptlab serve engines ({model}, {requests} requests, {concurrency} concurrent, {adapters} adapters, max_tokens {max_tokens})")
    for column in ("engine", "requests/s", "× builtin", "tokens/s", "p50 s", "p95 s", "errors"):
        table.add_column(column, justify="left" if column == "engine" else "right")
    for label, row in figures.items():
        table.add_row(
            label,
            f"{row['requests_per_s']:.1f}",
            ratio(row["requests_per_s"], baseline),
            f"{row['completion_tokens_per_s']:.0f}",
            f"{row['latency_p50_s']:.3f}",
            f"{row['latency_p95_s']:.3f}",
            str(row["errors"]),
        )
    console.print(table)
    load = {"model": model, "requests": requests, "concurrency": concurrency, "adapters": adapters, "max_tokens": max_tokens}
    settings = {"max_batch_size": max_batch_size, "torch_threads": torch_threads, "ray_replica_cpus": replica_cpus}
    written = write_results("serve_engines", {"machine": machine_description(), "load": load, "settings": settings, "engines": figures}, json_out)
    console.print(f"figures written to {written}")


if __name__ == "__main__":
    typer.run(main)
