"""Bounded load test of `adaptlab serve` on loopback: N requests, C concurrent, spread over A adapters.

    python bench/serve_load.py                       # 500 requests, 16 concurrent, 4 adapters, builtin:tiny
    python bench/serve_load.py --requests 2000 --concurrency 32 --json out.json

Builds a throwaway registry with A seeded LoRA adapters for the base (the same run folders the
registry tests build), starts the real server on 127.0.0.1 (free port) and drives it with httpx.
Reports errors, p50/p95/p99 latency, throughput and the server's mean batch size.
`bench/serve.py` reuses the registry building, the request loop and the metric readers.
"""

import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import typer
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.registry.runs builds real run folders

from adaptlab.models import ResolvedModel, resolve_model
from adaptlab.registry import GatePolicy, Registry, local_admin
from adaptlab.serve.config import ServeConfig
from adaptlab.serve.server import running_server
from tests.registry.runs import make_run, save_lora_adapter, write_dataset

TENANT = "bench"
PROMPT = "request {index}: tell me something"


def build_registry(
    root: Path, model_spec: str, adapters: int, make_adapter: Callable[[ResolvedModel, Path, int], Path] = save_lora_adapter
) -> tuple[list[str], str]:
    """(model names to request, a bearer token) for a new registry with `adapters` adapters promoted to production;
    `make_adapter(base, folder, seed)` saves each (default: the registry tests' small q/v LoRA)."""
    base = resolve_model(model_spec)
    admin = local_admin("bench")
    data_files = write_dataset(root / "data")
    names = []
    with Registry.open(root / "registry") as registry:
        registry.create_tenant(admin, TENANT)
        for index in range(adapters):
            name = f"{TENANT}/adapter{index}"
            registry.set_gates(admin, name, GatePolicy(required_approvals=0))
            folder = make_adapter(base, root / "adapters" / str(index), index)
            registry.register(admin, make_run(folder, base, data_files, root / "runs" / str(index)), name)
            registry.promote(admin, f"{name}@v1", "production")
            names.append(f"{name}@production")
        token = registry.create_token(admin, TENANT, "reader", "bench-client")
    return names, token


async def drive(
    url: str, token: str, models: list[str], requests: int, concurrency: int, max_tokens: int, prompt: str = PROMPT,
    extra_body: dict | None = None,
) -> tuple[list[float], int, int]:
    """(latency of each successful request in s, completion tokens, errors); request i asks models[i % len(models)]
    with `prompt.format(index=i)`, greedy (temperature 0, said explicitly: other servers sample by default),
    plus `extra_body`'s fields."""
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []
    counts = {"tokens": 0, "errors": 0}

    async def one(client: httpx.AsyncClient, index: int) -> None:
        body = {"model": models[index % len(models)], "prompt": prompt.format(index=index), "max_tokens": max_tokens, "temperature": 0}
        body |= extra_body or {}
        async with gate:
            started = time.perf_counter()
            try:
                response = await client.post("/v1/completions", json=body)
            except httpx.HTTPError:
                counts["errors"] += 1
                return
            if response.status_code != 200:
                counts["errors"] += 1
                return
            latencies.append(time.perf_counter() - started)
            counts["tokens"] += response.json()["usage"]["completion_tokens"]

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=120, limits=limits) as client:
        await asyncio.gather(*(one(client, i) for i in range(requests)))
    return latencies, counts["tokens"], counts["errors"]


def metric_values(metrics_text: str, sample_name: str) -> dict[tuple, float]:
    """Sorted label items -> value of every sample named `sample_name` (e.g. `adaptlab_serve_batch_size_sum`)."""
    return {
        tuple(sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(metrics_text)
        for sample in family.samples
        if sample.name == sample_name
    }


def batch_size_totals(metrics_text: str) -> tuple[float, float]:
    """(requests summed over forward passes, forward passes) so far."""
    return tuple(sum(metric_values(metrics_text, f"adaptlab_serve_batch_size_{part}").values()) for part in ("sum", "count"))


def mean_batch_size(metrics_text: str) -> float:
    rows, passes = batch_size_totals(metrics_text)
    return rows / max(passes, 1)


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (`fraction` in 0..1); NaN for no values."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))] if ordered else float("nan")


def main(
    model: str = typer.Option("builtin:tiny", help="base model spec"),
    requests: int = typer.Option(500, min=1, help="requests in total"),
    concurrency: int = typer.Option(16, min=1, help="requests in flight at once"),
    adapters: int = typer.Option(4, min=1, help="distinct adapters, requested round-robin"),
    max_tokens: int = typer.Option(16, min=1, help="max_tokens of each request"),
    max_batch_size: int = typer.Option(16, min=1, help="server --max-batch-size"),
    max_wait_ms: float = typer.Option(5.0, min=0, help="server --max-wait-ms"),
    torch_threads: int = typer.Option(1, min=1, help="server --torch-threads (1 is fastest for builtin:tiny on a small CPU)"),
    json_out: Path = typer.Option(None, "--json", help="also write the figures here"),
) -> None:
    console = Console()
    with tempfile.TemporaryDirectory(prefix="adaptlab-bench-") as scratch:
        with console.status(f"registering {adapters} adapters for {model}…"):
            models, token = build_registry(Path(scratch), model, adapters)
        config = ServeConfig(
            model=model,
            registry=Path(scratch) / "registry",
            port=0,
            max_batch_size=max_batch_size,
            max_wait_ms=max_wait_ms,
            max_concurrent_requests=max(concurrency, 1),
            max_concurrent_per_tenant=max(concurrency, 1),
            torch_threads=torch_threads,
        )
        with running_server(config) as server:
            with console.status(f"{requests} requests, {concurrency} concurrent…"):
                started = time.perf_counter()
                latencies, tokens, errors = asyncio.run(drive(server.url, token, models, requests, concurrency, max_tokens))
                wall_s = time.perf_counter() - started
            batch = mean_batch_size(httpx.get(f"{server.url}/metrics").text)
    figures = {
        "model": model,
        "requests": requests,
        "concurrency": concurrency,
        "adapters": adapters,
        "max_tokens": max_tokens,
        "torch_threads": torch_threads,
        "errors": errors,
        "latency_p50_s": percentile(latencies, 0.50),
        "latency_p95_s": percentile(latencies, 0.95),
        "latency_p99_s": percentile(latencies, 0.99),
        "latency_mean_s": statistics.fmean(latencies) if latencies else float("nan"),
        "wall_s": wall_s,
        "requests_per_s": len(latencies) / wall_s,
        "completion_tokens_per_s": tokens / wall_s,
        "mean_batch_size": batch,
    }
    table = Table(title=f"adaptlab serve load test ({model}, loopback)", show_header=False)
    for key, value in figures.items():
        table.add_row(key, f"{value:.4g}" if isinstance(value, float) else str(value))
    console.print(table)
    if json_out:
        json_out.write_text(json.dumps(figures, indent=2))
    if errors:
        raise typer.Exit(1)


if __name__ == "__main__":
    typer.run(main)
