"""Serving throughput with drift sampling on vs off, in the same run (target: on ≥ 0.95 × off, issue 15).

    python bench/monitor_overhead.py            # builtin:smollm2-135m, 2 rounds × 3 settings of 128 requests × 32 tokens
    python bench/monitor_overhead.py --quick    # builtin:tiny, fewer requests, < 1 min: checks that the bench runs

A throwaway registry holds one version, bench/serve.py's rank-16 all-linear LoRA, registered with a drift reference
profile (256 embedded training prompts: Alpaca instructions from ../shared/data/alpaca_en_demo.json, generated ones
with --quick). Each round starts a fresh server (in this process, `--torch-threads` 1) per setting and sends the
same `--requests` greedy completions of bench/serve.py's counting prompt (which rarely stops early), `--concurrency`
at a time, to that version:

- off: `drift_sample_rate` 0 (no prompt is embedded);
- default: the server's default sampling (`drift_sample_rate` 0.1, `drift_cpu_share` 0.25);
- every_prompt: every prompt embedded and tested (`drift_sample_rate` 1.0), the worst case.

Settings alternate within each round (off, default, every_prompt), so slow drifts of the machine's load hit all
alike; the encoder is loaded once before the first round, as a long-running server loads it once. Throughput is
generated tokens over the scenario's wall time; the ratio of each setting to `off` of the same round is reported,
and its median over rounds is checked against the target. Writes bench/results/monitor_overhead.json
(monitor_overhead_quick.json with --quick) atomically.
"""

import asyncio
import itertools
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import typer
from common import ALPACA_DEMO, machine_description, quick_alpaca_rows, ratio, write_results
from rich.console import Console
from rich.table import Table
from serve import PROMPT, rank16_lora
from serve_load import drive, metric_values

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.serve.monitoring_world builds real run folders

from adaptlab.data.prompts import file_prompts
from adaptlab.models import resolve_model
from adaptlab.models.encoder import load_sentence_encoder
from adaptlab.serve.config import ServeConfig
from adaptlab.serve.server import running_server
from tests.serve.monitoring_world import build_world

TARGET_RATIO = 0.95
PROFILE_PROMPTS = 256
TRAINING_PROMPTS = 512
SETTINGS = {"off": 0.0, "default": ServeConfig.model_fields["drift_sample_rate"].default, "every_prompt": 1.0}


def training_prompts(quick: bool) -> list[str]:
    if quick:
        return [row["instruction"] for row in quick_alpaca_rows(TRAINING_PROMPTS)]
    if not ALPACA_DEMO.is_file():
        raise typer.BadParameter(f"{ALPACA_DEMO} is missing; run with --quick")
    return list(itertools.islice(file_prompts([ALPACA_DEMO], "alpaca"), TRAINING_PROMPTS))


def measure(config: ServeConfig, token: str, requests: int, concurrency: int, max_tokens: int) -> dict:
    with running_server(config) as server:
        asyncio.run(drive(server.url, token, ["acme/assistant@production"], concurrency, concurrency, max_tokens, PROMPT))  # warm-up
        started_wall, started_cpu = time.perf_counter(), time.process_time()
        _, tokens, errors = asyncio.run(drive(server.url, token, ["acme/assistant@production"], requests, concurrency, max_tokens, PROMPT))
        wall_s, cpu_s = time.perf_counter() - started_wall, time.process_time() - started_cpu
        metrics = httpx.get(f"{server.url}/metrics").text
    embedded = sum(metric_values(metrics, "adaptlab_drift_prompts_embedded_total").values())
    tests = sum(metric_values(metrics, "adaptlab_drift_tests_total").values())
    return {"tokens": tokens, "errors": errors, "wall_s": wall_s, "cpu_s": cpu_s, "tokens_per_s": tokens / wall_s, "embedded": embedded, "tests": tests}


def main(
    quick: bool = typer.Option(False, "--quick", help="builtin:tiny and fewer requests: checks that the bench runs"),
    model: str = typer.Option(None, help="base model spec (default builtin:smollm2-135m, builtin:tiny with --quick)"),
    rounds: int = typer.Option(None, min=1, help="rounds of the three settings (default 2, 1 with --quick)"),
    requests: int = typer.Option(None, min=1, help="requests per scenario (default 128, 64 with --quick)"),
    concurrency: int = typer.Option(8, min=1, help="requests in flight, and the server's max batch size"),
    max_tokens: int = typer.Option(None, min=1, help="max_tokens of each request (default 32, 8 with --quick)"),
    torch_threads: int = typer.Option(1, min=1, help="server --torch-threads"),
    out: Path = typer.Option(None, help="JSON file (default bench/results/monitor_overhead.json or monitor_overhead_quick.json)"),
) -> None:
    model = model or ("builtin:tiny" if quick else "builtin:smollm2-135m")
    rounds = rounds or (1 if quick else 2)
    requests = requests or (64 if quick else 128)
    max_tokens = max_tokens or (8 if quick else 32)
    console = Console()
    with tempfile.TemporaryDirectory(prefix="adaptlab-bench-") as scratch:
        with console.status(f"registering a version of {model} with a {PROFILE_PROMPTS}-prompt drift profile…"):
            world = build_world(Path(scratch), resolve_model(model), {"assistant": (training_prompts(quick), PROFILE_PROMPTS)}, rank16_lora)
            load_sentence_encoder()
        results: dict[str, list[dict]] = {name: [] for name in SETTINGS}
        for round_index in range(rounds):
            for name, sample_rate in SETTINGS.items():
                config = ServeConfig(
                    model=model,
                    registry=world.registry_root,
                    port=0,
                    max_batch_size=concurrency,
                    max_concurrent_requests=concurrency,
                    max_concurrent_per_tenant=concurrency,
                    torch_threads=torch_threads,
                    drift_sample_rate=sample_rate,
                )
                with console.status(f"round {round_index + 1}/{rounds}, {name}: {requests} requests, {concurrency} at a time…"):
                    results[name].append(measure(config, world.acme_token, requests, concurrency, max_tokens))
    ratios = {
        name: [run["tokens_per_s"] / off["tokens_per_s"] for run, off in zip(runs, results["off"])] for name, runs in results.items() if name != "off"
    }
    payload = {
        "model": model,
        "settings": {
            "rounds": rounds,
            "requests": requests,
            "concurrency": concurrency,
            "max_tokens": max_tokens,
            "torch_threads": torch_threads,
            "sample_rates": SETTINGS,
            "profile_prompts": PROFILE_PROMPTS,
            "prompt": PROMPT,
        },
        "machine": machine_description(),
        "runs": results,
        "ratios_to_off": ratios,
        "targets": {
            "default_over_off_median": statistics.median(ratios["default"]),
            "every_prompt_over_off_median": statistics.median(ratios["every_prompt"]),
            "target": TARGET_RATIO,
        },
    }
    print_table(console, payload)
    console.print(f"wrote {write_results('monitor_overhead_quick' if quick else 'monitor_overhead', payload, out)}")
    if any(run["errors"] for runs in results.values() for run in runs):
        raise typer.Exit(1)


def print_table(console: Console, payload: dict) -> None:
    settings = payload["settings"]
    table = Table(
        title=f"drift sampling overhead, {payload['model']}, {settings['requests']} requests × {settings['max_tokens']} tokens, "
        f"{settings['concurrency']} concurrent, load avg {payload['machine']['load_average_1m']:.1f}"
    )
    for column in ("setting", "sample rate", "round", "errors", "tokens/s", "× off", "CPU s", "prompts embedded", "drift tests"):
        table.add_column(column, justify="left" if column == "setting" else "right")
    for name, runs in payload["runs"].items():
        for index, run in enumerate(runs):
            off = payload["runs"]["off"][index]
            table.add_row(
                name,
                f"{settings['sample_rates'][name]:g}",
                str(index + 1),
                str(run["errors"]),
                f"{run['tokens_per_s']:.1f}",
                ratio(run["tokens_per_s"], off["tokens_per_s"]),
                f"{run['cpu_s']:.1f}",
                f"{run['embedded']:.0f}",
                f"{run['tests']:.0f}",
            )
    console.print(table)
    targets = payload["targets"]
    console.print(
        f"median × off: default sampling {targets['default_over_off_median']:.3f}, every prompt {targets['every_prompt_over_off_median']:.3f} "
        f"(target ≥ {targets['target']})"
    )


if __name__ == "__main__":
    typer.run(main)
