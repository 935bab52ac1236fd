"""Serving throughput and latency on loopback: the base model alone, one adapter, 8 adapters mixed in
every batch, one adapter at a time with swapping; and adapter cold-load time.

    python bench/serve.py            # builtin:smollm2-135m, rank-16 all-linear LoRAs, 3–5 min on 2 busy cores
    python bench/serve.py --quick    # builtin:tiny, fewer requests, < 1 min: checks that the bench runs

A throwaway registry holds `--adapters` (8) rank-16 all-linear LoRA adapters (lora_B seeded random,
so each changes the output), promoted to production. The real server runs on 127.0.0.1 in this
process (`--torch-threads` 1 by default: the least disturbed by other load on a small CPU). Each
scenario sends `--requests` (64) greedy completions of `--max-tokens` (32) tokens, `--concurrency`
(8) at a time, which is also the server's max batch size; prompts count upward, so requests rarely
stop early (the table shows generated tokens per request):

- base: the base model's name, measured first, before any adapter is loaded.
- cold load: one request per adapter, one after another; the server's `adaptlab_serve_adapter_load_seconds`
  for each (registry fetch with SHA-256 check, compatibility checks, load into the model); median reported.
- one_adapter: every request to adapter 0.
- mixed: requests round-robin over all adapters, so each batch holds 8 different adapters.
- swapping: waves of `--concurrency` requests, each wave to the next adapter, on a second server whose
  adapter cache holds one adapter: every wave evicts the previous adapter and cold-loads its own.
- time to first token: 4 waves of `--concurrency` streamed requests sent at once, to the base and to the
  8 adapters mixed; the p50 of the client-side time from sending to the first chunk with text.

`--lora-kernel` sets the server's per-row LoRA kernel (default: the server's default, gathered).

The serving peer (bench/llama_cpp_peer.py): after adaptlab's servers have stopped, llama.cpp's server
(llama-cpp-python, the `bench-peers` extra) gets the same prompts, max tokens, greedy decoding and
concurrency on the same number of threads, on the Q4_1 GGUF builtin:smollm2-135m is converted from
(ours serves those weights dequantised to fp32), base and with adapter 0 converted to GGUF, and again
on our fp32 checkpoint converted to an f32 GGUF; its server decodes one request at a time and loads
the adapter at start. The adapter and f32 rows need `--llama-cpp-source` (llama-cpp-python's sdist,
whose vendored llama.cpp has the converters). Without llama_cpp importable, or with --quick, the peer
is skipped and the bench says why. `--op-profile N` then profiles N decode steps of adaptlab's server for
base, one adapter and mixed, and 4 cold loads (torch.profiler, top operators by self CPU time and the
share outside any operator; bench/op_profile.py); the profiled requests are not part of the figures.

Throughput is generated tokens over the scenario's wall time; process CPU time is kept too (less
disturbed by other processes). Ratios are against the base measured in the same run. Prints tables and
writes bench/results/serve.json (serve_quick.json with --quick) atomically.
"""

import asyncio
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx
import llama_cpp_peer
import typer
from common import BenchError, machine_description, ratio, write_results
from merge_latency import make_lora
from op_profile import print_profile, profiled_calls
from rich.console import Console
from rich.table import Table
from serve_load import batch_size_totals, build_registry, drive, metric_values, percentile

from adaptlab.models import resolve_model
from adaptlab.models.builtin import smollm2_gguf_path
from adaptlab.serve.config import ServeConfig
from adaptlab.serve.engines.batching.adapter_cache import AdapterCache
from adaptlab.serve.engines.batching.decoding import RunningBatch
from adaptlab.serve.server import RunningServer, running_server

PROMPT = "{index}: count with me: 1, 2, 3, 4, 5,"
RANK = 16
MIXED_TARGET = 0.9  # × base throughput (issue 21)
ONE_ADAPTER_TARGET = 0.97  # × base throughput (issue 21)
COLD_LOAD_TARGET_MS = 50.0  # issue 21
TTFT_WAVES = 4  # waves of `concurrency` streamed requests sent at once, for time to first token
PEER_MODEL = "builtin:smollm2-135m"  # the model whose GGUF file llama.cpp serves
PEER_GREEDY = {"repeat_penalty": 1.0}  # llama-cpp-python's server penalises repeats (1.1) even at temperature 0
PROFILE_SKIPPED_STEPS = 2  # decode steps of each profiled wave left unrecorded (the batch fills up)
COLD_LOADS_PROFILED = 4


@dataclass(frozen=True)
class Scenario:
    name: str
    requests: int
    errors: int
    completion_tokens: int
    wall_s: float
    cpu_s: float
    latency_p50_s: float
    latency_p95_s: float
    mean_batch_size: float

    @property
    def tokens_per_s(self) -> float:
        return self.completion_tokens / self.wall_s

    @property
    def tokens_per_cpu_s(self) -> float:
        return self.completion_tokens / self.cpu_s


def measure(
    name: str,
    url: str,
    token: str,
    waves: list[tuple[list[str], int]],
    concurrency: int,
    max_tokens: int,
    *,
    server_cpu_s: Callable[[], float] = lambda: 0.0,
    batch_totals: Callable[[], tuple[float, float]] | None = None,
    extra_body: dict | None = None,
) -> Scenario:
    """Send each wave (models round-robin, request count) after the previous one finished; one Scenario for all.
    CPU time is this process's (the client, and adaptlab's in-process server) plus `server_cpu_s()`'s growth;
    `batch_totals()` gives (rows, forward passes) so far, or without it the server decodes one request at a time;
    `extra_body` adds fields to every request."""
    rows_before, passes_before = batch_totals() if batch_totals else (0.0, 0.0)
    latencies: list[float] = []
    tokens = errors = 0
    started_wall, started_cpu = time.perf_counter(), time.process_time() + server_cpu_s()
    for models, requests in waves:
        wave_latencies, wave_tokens, wave_errors = asyncio.run(drive(url, token, models, requests, concurrency, max_tokens, PROMPT, extra_body))
        latencies += wave_latencies
        tokens += wave_tokens
        errors += wave_errors
    wall_s, cpu_s = time.perf_counter() - started_wall, time.process_time() + server_cpu_s() - started_cpu
    rows_after, passes_after = batch_totals() if batch_totals else (1.0, 1.0)
    return Scenario(
        name=name,
        requests=sum(requests for _, requests in waves),
        errors=errors,
        completion_tokens=tokens,
        wall_s=wall_s,
        cpu_s=cpu_s,
        latency_p50_s=percentile(latencies, 0.50),
        latency_p95_s=percentile(latencies, 0.95),
        mean_batch_size=(rows_after - rows_before) / max(passes_after - passes_before, 1),
    )


async def first_token_seconds(url: str, token: str, models: list[str], concurrency: int, max_tokens: int) -> list[float]:
    """Time to first token of `concurrency` streamed requests sent at once (models round-robin), client-side:
    from sending the request to its first SSE chunk with text."""

    async def one(client: httpx.AsyncClient, index: int) -> float | None:
        body = {"model": models[index % len(models)], "prompt": PROMPT.format(index=index), "max_tokens": max_tokens, "stream": True}
        started = time.perf_counter()
        async with client.stream("POST", "/v1/completions", json=body) as response:
            if response.status_code != 200:
                return None
            async for line in response.aiter_lines():
                choices = json.loads(line[len("data: ") :])["choices"] if line.startswith("data: {") else []
                if choices and choices[0]["text"]:
                    return time.perf_counter() - started
        return None

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=120, limits=limits) as client:
        firsts = await asyncio.gather(*(one(client, i) for i in range(concurrency)))
    return [seconds for seconds in firsts if seconds is not None]


def ttft_p50_s(server: RunningServer, token: str, models: list[str], concurrency: int, max_tokens: int) -> float:
    firsts = []
    for _ in range(TTFT_WAVES):
        firsts += asyncio.run(first_token_seconds(server.url, token, models, concurrency, max_tokens))
    return percentile(firsts, 0.50)


def cold_load_seconds(server: RunningServer, token: str, adapters: list[str]) -> list[float]:
    """Load time of each adapter on its first request, one request at a time, from the server's metric."""
    for model in adapters:
        asyncio.run(drive(server.url, token, [model], 1, 1, 2, PROMPT))
    sums = metric_values(httpx.get(f"{server.url}/metrics").text, "adaptlab_serve_adapter_load_seconds_sum")
    return list(sums.values())


def rank16_lora(base, folder: Path, seed: int) -> Path:
    return make_lora(base, folder, RANK, seed)


def decode_profiles(server: RunningServer, token: str, models_by_label: dict[str, list[str]], concurrency: int, max_tokens: int, steps: int) -> dict:
    """Operator profile of the server's decode steps (`RunningBatch.step`, on its scheduler thread) during one wave
    of `concurrency` requests per label."""
    profiles = {}
    for label, models in models_by_label.items():
        with profiled_calls(RunningBatch, "step", label=f"decode step, {label}", skip_calls=PROFILE_SKIPPED_STEPS, record_calls=steps) as profile:
            asyncio.run(drive(server.url, token, models, concurrency, concurrency, max_tokens, PROMPT))
        profiles[label] = profile.summary()
    return profiles


def cold_load_profile(server: RunningServer, token: str, adapters: list[str]) -> dict:
    """Operator profile of adapter loads (`AdapterCache._load`) on a server whose cache holds one adapter: one
    request to each adapter in turn, so each is a cold load; the first load unrecorded."""
    with profiled_calls(AdapterCache, "_load", label="rank-16 adapter cold load", skip_calls=1, record_calls=COLD_LOADS_PROFILED) as profile:
        for index in range(COLD_LOADS_PROFILED + 2):  # one more than needed: the first may hit the adapter already loaded
            asyncio.run(drive(server.url, token, [adapters[index % len(adapters)]], 1, 1, 2, PROMPT))
    return profile.summary()


def measure_peer(scratch: Path, model: str, source: Path | None, threads: int, requests: int, concurrency: int, max_tokens: int, console: Console) -> dict:
    """llama.cpp's server on the GGUF builtin:smollm2-135m comes from (Q4_1), base and with adapter 0 converted to
    GGUF, and on our fp32 checkpoint converted to an f32 GGUF; the same prompts, max tokens and concurrency."""
    reason = f"it serves {PEER_MODEL}'s GGUF, not {model}" if model != PEER_MODEL else llama_cpp_peer.unavailable_reason()
    if reason:
        return {"status": "skipped", "reason": reason}
    base_dir, notes = resolve_model(model).path, []
    ggufs, lora = {"Q4_1": smollm2_gguf_path()}, None
    try:
        converters = llama_cpp_peer.converter_dir(source, scratch)
        with console.status("converting adapter 0 and the fp32 checkpoint to GGUF with llama.cpp's converters…"):
            lora = llama_cpp_peer.convert_lora(converters, scratch / "adapters" / "0", base_dir, scratch / "adapter0-f32.gguf")
            ggufs["f32"] = llama_cpp_peer.convert_model(converters, base_dir, scratch / "base-f32.gguf")
    except BenchError as exc:
        notes.append(f"not all converted, measured without: {exc}")
    scenarios = []
    for quantisation, gguf in ggufs.items():
        for adapter in (None, lora) if lora else (None,):
            label = f"{'one_adapter' if adapter else 'base'} {quantisation}"
            log_file = scratch / f"llama-cpp {label}.log"
            with llama_cpp_peer.running_peer(gguf, threads, log_file, adapter) as peer, console.status(f"llama.cpp {label}: {requests} requests…"):
                measure("warm-up", peer.url, "no-key", [([gguf.stem], concurrency)], concurrency, max_tokens, extra_body=PEER_GREEDY)
                waves = [([gguf.stem], requests)]
                scenarios.append(measure(label, peer.url, "no-key", waves, concurrency, max_tokens, server_cpu_s=peer.cpu_s, extra_body=PEER_GREEDY))
    return {
        "status": "measured",
        "engine": f"llama-cpp-python {llama_cpp_peer.version()} (python -m llama_cpp.server)",
        "batching": "one request at a time (the server's lock); concurrent requests queue",
        "adapter": "loaded at server start (--lora_path), f32 GGUF from convert_lora_to_gguf.py, applied at run time",
        "threads": threads,
        "notes": notes,
        "scenarios": {s.name: {**asdict(s), "tokens_per_s": s.tokens_per_s, "tokens_per_cpu_s": s.tokens_per_cpu_s} for s in scenarios},
    }


def adaptlab_over_peer(peer: dict, scenarios: dict) -> dict:
    """adaptlab's tokens/s (wall and CPU) over the peer's, scenario by scenario ("base Q4_1" against our "base");
    None where the peer produced nothing (its errors column says why)."""
    return {
        label: {
            unit: scenarios[label.split()[0]][unit] / measured[unit] if measured[unit] else None
            for unit in ("tokens_per_s", "tokens_per_cpu_s")
        }
        for label, measured in peer.get("scenarios", {}).items()
    }


def main(
    quick: bool = typer.Option(False, "--quick", help="builtin:tiny and fewer requests: checks that the bench runs"),
    model: str = typer.Option(None, help="base model spec (default builtin:smollm2-135m, builtin:tiny with --quick)"),
    adapters: int = typer.Option(8, min=2, help="adapters in the registry, all mixed in the `mixed` scenario"),
    requests: int = typer.Option(None, min=1, help="requests per scenario (default 64, 32 with --quick)"),
    concurrency: int = typer.Option(8, min=1, help="requests in flight, and the server's max batch size"),
    max_tokens: int = typer.Option(None, min=1, help="max_tokens of each request (default 32, 16 with --quick)"),
    torch_threads: int = typer.Option(1, min=1, help="server --torch-threads"),
    lora_kernel: str = typer.Option("gathered", help="server --lora-kernel: stacked or gathered"),
    peer: bool = typer.Option(True, "--peer/--no-peer", help=f"also measure llama.cpp's server (llama-cpp-python) on {PEER_MODEL}'s GGUF"),
    llama_cpp_source: Path = typer.Option(
        None, help="llama-cpp-python's source distribution (.tar.gz or unpacked): its vendored llama.cpp converts the adapter to GGUF"
    ),
    op_profile: int = typer.Option(0, min=0, metavar="N", help="then profile N decode steps of the server per scenario (torch.profiler)"),
    out: Path = typer.Option(None, help="JSON file (default bench/results/serve.json or serve_quick.json)"),
) -> None:
    model = model or ("builtin:tiny" if quick else "builtin:smollm2-135m")
    requests = requests or (32 if quick else 64)
    max_tokens = max_tokens or (16 if quick else 32)
    console = Console()
    with tempfile.TemporaryDirectory(prefix="adaptlab-bench-") as scratch:
        with console.status(f"registering {adapters} rank-{RANK} all-linear adapters for {model}…"):
            names, token = build_registry(Path(scratch), model, adapters, rank16_lora)

        def config(cache_bytes: int) -> ServeConfig:
            return ServeConfig(
                model=model,
                registry=Path(scratch) / "registry",
                port=0,
                max_batch_size=concurrency,
                max_concurrent_requests=concurrency,
                max_concurrent_per_tenant=concurrency,
                cache_bytes=cache_bytes,
                torch_threads=torch_threads,
                lora_kernel=lora_kernel,
            )

        def run(label: str, server: RunningServer, waves: list[tuple[list[str], int]]) -> Scenario:
            def batch_totals() -> tuple[float, float]:
                return batch_size_totals(httpx.get(f"{server.url}/metrics").text)

            with console.status(f"{label}: {sum(n for _, n in waves)} requests, {concurrency} at a time…"):
                return measure(label, server.url, token, waves, concurrency, max_tokens, batch_totals=batch_totals)

        with running_server(config(cache_bytes=2**40)) as server:
            run("warm-up", server, [([model], concurrency)])
            scenarios = [run("base", server, [([model], requests)])]
            with console.status(f"cold-loading {adapters} adapters one at a time…"):
                loads_s = cold_load_seconds(server, token, names)
            scenarios.append(run("one_adapter", server, [([names[0]], requests)]))
            scenarios.append(run(f"mixed_{adapters}", server, [(names, requests)]))
            with console.status(f"time to first token: {TTFT_WAVES} waves of {concurrency} streamed requests at once…"):
                ttft_s = {"base": ttft_p50_s(server, token, [model], concurrency, max_tokens)}
                ttft_s[f"mixed_{adapters}"] = ttft_p50_s(server, token, names, concurrency, max_tokens)
            op_profiles = {}
            if op_profile:
                with console.status(f"profiling {op_profile} decode steps per scenario…"):
                    labels = {"base": [model], "one_adapter": [names[0]], f"mixed_{adapters}": names}
                    op_profiles = decode_profiles(server, token, labels, concurrency, max_tokens, op_profile)
        with running_server(config(cache_bytes=1)) as server:
            run("warm-up", server, [([model], concurrency)])
            waves = [([names[wave % adapters]], concurrency) for wave in range(max(requests // concurrency, 1))]
            scenarios.append(run("swapping", server, waves))
            if op_profile:
                with console.status(f"profiling {COLD_LOADS_PROFILED} cold loads…"):
                    op_profiles["cold load"] = cold_load_profile(server, token, names)
        peer_payload = measure_peer(Path(scratch), model, llama_cpp_source, torch_threads, requests, concurrency, max_tokens, console) if peer else {"status": "skipped", "reason": "--no-peer"}
    base, one, mixed = scenarios[0], scenarios[1], scenarios[2]
    cold_load_ms = statistics.median(loads_s) * 1000
    payload = {
        "model": model,
        "settings": {
            "adapters": adapters,
            "rank": RANK,
            "target_modules": "all-linear",
            "requests": requests,
            "concurrency": concurrency,
            "max_batch_size": concurrency,
            "max_tokens": max_tokens,
            "torch_threads": torch_threads,
            "lora_kernel": lora_kernel,
            "prompt": PROMPT,
        },
        "machine": machine_description(),
        "scenarios": {s.name: {**asdict(s), "tokens_per_s": s.tokens_per_s, "tokens_per_cpu_s": s.tokens_per_cpu_s} for s in scenarios},
        "cold_load_s": loads_s,
        "ttft_p50_s": ttft_s,
        "peer": peer_payload,
        "op_profiles": op_profiles,
        "targets": {
            "mixed_over_base_tokens_per_s": mixed.tokens_per_s / base.tokens_per_s,
            "mixed_over_base_target": MIXED_TARGET,
            "one_adapter_over_base_tokens_per_s": one.tokens_per_s / base.tokens_per_s,
            "one_adapter_over_base_target": ONE_ADAPTER_TARGET,
            "cold_load_median_ms": cold_load_ms,
            "cold_load_target_ms": COLD_LOAD_TARGET_MS,
        },
    }
    by_name = payload["scenarios"]
    peer_payload["adaptlab_over_peer"] = adaptlab_over_peer(peer_payload, by_name)
    print_tables(console, payload, scenarios, loads_s)
    for summary in op_profiles.values():
        print_profile(console, summary)
    console.print(f"wrote {write_results('serve_quick' if quick else 'serve', payload, out)}")
    if any(s.errors for s in scenarios):
        raise typer.Exit(1)


def print_tables(console: Console, payload: dict, scenarios: list[Scenario], loads_s: list[float]) -> None:
    settings, base = payload["settings"], scenarios[0]
    table = Table(
        title=f"adaptlab serve, {payload['model']}, {settings['requests']} requests × {settings['max_tokens']} tokens, "
        f"{settings['concurrency']} concurrent, {settings['torch_threads']} torch thread(s), load avg {payload['machine']['load_average_1m']:.1f}"
    )
    for column in ("scenario", "errors", "tokens/request", "tokens/s", "× base", "tokens/CPU-s", "× base (CPU)", "p50 s", "p95 s", "batch size"):
        table.add_column(column, justify="left" if column == "scenario" else "right")
    for s in scenarios:
        table.add_row(
            s.name,
            str(s.errors),
            f"{s.completion_tokens / max(s.requests - s.errors, 1):.1f}",
            f"{s.tokens_per_s:.1f}",
            ratio(s.tokens_per_s, base.tokens_per_s),
            f"{s.tokens_per_cpu_s:.1f}",
            ratio(s.tokens_per_cpu_s, base.tokens_per_cpu_s),
            f"{s.latency_p50_s:.2f}",
            f"{s.latency_p95_s:.2f}",
            f"{s.mean_batch_size:.1f}",
        )
    console.print(table)
    targets = payload["targets"]
    checks = Table(title="issue 21 serving targets")
    for column in ("target", "measured", "met?"):
        checks.add_column(column)
    for label, key, target in (
        (f"{settings['adapters']} mixed adapters", "mixed_over_base_tokens_per_s", MIXED_TARGET),
        ("one adapter", "one_adapter_over_base_tokens_per_s", ONE_ADAPTER_TARGET),
    ):
        checks.add_row(f"{label} ≥ {target:.2f}× base tokens/s", f"{targets[key]:.2f}×", "yes" if targets[key] >= target else "no")
    checks.add_row(
        f"rank-{RANK} cold load ≤ {COLD_LOAD_TARGET_MS:.0f} ms (median)",
        f"{targets['cold_load_median_ms']:.0f} ms (min {min(loads_s) * 1000:.0f}, max {max(loads_s) * 1000:.0f}, n={len(loads_s)})",
        "yes" if targets["cold_load_median_ms"] <= COLD_LOAD_TARGET_MS else "no",
    )
    checks.add_row(
        f"time to first token p50, {settings['concurrency']} concurrent streamed requests",
        ", ".join(f"{name} {seconds * 1000:.0f} ms" for name, seconds in payload["ttft_p50_s"].items()),
        "reported",
    )
    console.print(checks)
    print_peer(console, payload["peer"])


def print_peer(console: Console, peer: dict) -> None:
    if peer["status"] != "measured":
        console.print(f"llama.cpp peer skipped: {peer['reason']}")
        return
    table = Table(title=f"serving peer: {peer['engine']}, {peer['threads']} thread(s), {peer['batching']}")
    for column in ("scenario", "errors", "tokens/request", "tokens/s", "tokens/CPU-s", "p50 s", "p95 s", "adaptlab ÷ peer", "(by CPU)"):
        table.add_column(column, justify="left" if column == "scenario" else "right")
    for label, s in peer["scenarios"].items():
        ratios = peer["adaptlab_over_peer"][label]
        table.add_row(
            label,
            str(s["errors"]),
            f"{s['completion_tokens'] / max(s['requests'] - s['errors'], 1):.1f}",
            f"{s['tokens_per_s']:.1f}",
            f"{s['tokens_per_cpu_s']:.1f}",
            f"{s['latency_p50_s']:.2f}",
            f"{s['latency_p95_s']:.2f}",
            "-" if ratios["tokens_per_s"] is None else f"{ratios['tokens_per_s']:.2f}×",
            "-" if ratios["tokens_per_cpu_s"] is None else f"{ratios['tokens_per_cpu_s']:.2f}×",
        )
    console.print(table)
    for note in peer["notes"]:
        console.print(f"llama.cpp peer: {note}")


if __name__ == "__main__":
    typer.run(main)
