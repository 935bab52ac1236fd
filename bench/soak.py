"""Soak test of `adaptlab serve` on loopback: a real server process under a mixed load for N minutes.

    python bench/soak.py --minutes 10            # builtin:tiny, 8 clients, 2 tenants x 2 adapters
    python bench/soak.py --minutes 2 --clients 4

The mix: two tenants' adapters (by alias and by version) and the base, plain and chat, non-streamed and
streamed, clients that leave halfway (streams closed after the first chunk, answers given up on),
bad requests (bad JSON, unknown fields, wrong types, seeds past int64, lone surrogates, no or forged
token, another tenant's model, unknown models), while an operator promotes v2 and rolls back to v1
every few seconds. Every loop ends at the deadline; every request has a timeout.

Prints requests, answers by status, p50/p99 latency of the answered requests, the server's RSS at
start (after a warm-up) and at the end (a leak shows as growth), and ends with `registry audit
--verify`. Exits 1 on any 5xx, transport error, unexpected status or a broken audit chain.
"""

import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
import typer
from rich.console import Console
from rich.table import Table
from serve_load import percentile

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.registry.runs builds real run folders

from adaptlab.models import resolve_model
from adaptlab.registry import GatePolicy, Registry, local_admin
from tests.registry.runs import make_run, save_lora_adapter, write_dataset

TENANTS = ("acme", "globex")
ADAPTERS_PER_TENANT = 2
ALIAS = "production"
REQUEST_TIMEOUT_S = 60
GIVE_UP_AFTER_S = 0.05  # a client that abandons its non-streamed request waits this long
ADMIN_EVERY_S = 3.0
ADAPTLAB = [sys.executable, "-c", "from adaptlab.cli import main; main()"]


@dataclass
class World:
    registry: Path
    tokens: dict[str, str]  # tenant -> reader token
    models: dict[str, list[str]]  # tenant -> its model names (tenant/name)


@dataclass
class Tally:
    statuses: Counter = field(default_factory=Counter)  # "200", "404", "abandoned", "transport error", ...
    unexpected: Counter = field(default_factory=Counter)  # "scenario: got X"
    latencies_s: list[float] = field(default_factory=list)
    admin_changes: int = 0


def build_world(root: Path, base_spec: str) -> World:
    """Two tenants, each with ADAPTERS_PER_TENANT models of two versions (v1 in production), and a reader token each."""
    base = resolve_model(base_spec)
    admin, reviewer = local_admin("soak"), local_admin("soak-reviewer")
    data_files = write_dataset(root / "data")
    tokens, models = {}, {}
    with Registry.open(root / "registry") as registry:
        for tenant_index, tenant in enumerate(TENANTS):
            registry.create_tenant(admin, tenant)
            models[tenant] = []
            for index in range(ADAPTERS_PER_TENANT):
                name = f"{tenant}/adapter{index}"
                registry.set_gates(admin, name, GatePolicy(required_approvals=0))
                for version in (1, 2):
                    seed = 100 * tenant_index + 10 * index + version
                    folder = save_lora_adapter(base, root / "adapters" / str(seed), seed=seed)
                    registry.register(admin, make_run(folder, base, data_files, root / "runs" / str(seed)), name)
                    registry.approve(reviewer, f"{name}@v{version}", "soak")
                registry.promote(admin, f"{name}@v1", ALIAS)
                models[tenant].append(name)
            tokens[tenant] = registry.create_token(admin, tenant, "reader", f"{tenant}-soak")
    return World(root / "registry", tokens, models)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(world: World, base_spec: str, port: int, log_file: Path) -> subprocess.Popen:
    command = [*ADAPTLAB, "serve", "--model", base_spec, "--registry", str(world.registry), "--port", str(port)]
    command += ["--max-tokens-limit", "64", "--alias-ttl-s", "0.5"]
    with log_file.open("w") as log:
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=os.environ | {"PYTHONUNBUFFERED": "1"})


def wait_ready(url: str, server: subprocess.Popen, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited with {server.returncode} before it was ready")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"the server was not ready within {timeout_s} s")


# --- the scenarios: each returns (label, status or outcome, latency in s or None) ---


def _good_body(rng: random.Random, world: World, tenant: str, chat: bool) -> dict:
    name = rng.choice(world.models[tenant])
    model = rng.choice([f"{name}@{ALIAS}", f"{name}@v1", f"{name}@v2", "builtin:tiny"])
    body = {"model": model, "max_tokens": rng.randint(1, 24), "temperature": rng.choice([0.0, 0.7]), "seed": rng.randint(0, 2**40)}
    if chat:
        return body | {"messages": [{"role": "user", "content": f"soak {rng.random():.6f}"}]}
    return body | {"prompt": f"soak {rng.random():.6f}"}


def _bad_request(rng: random.Random, world: World, tenant: str) -> tuple[str, dict, bytes, int]:
    """(label, headers, body, expected status)."""
    other = next(t for t in TENANTS if t != tenant)
    good = {"model": f"{world.models[tenant][0]}@{ALIAS}", "prompt": "x", "max_tokens": 2}
    cases = [
        ("bad json", {}, b"{not json", 400),
        ("unknown field", {}, json.dumps(good | {"logit_bias": {}}).encode(), 400),
        ("string max_tokens", {}, json.dumps(good | {"max_tokens": "5"}).encode(), 400),
        ("seed past int64", {}, json.dumps(good | {"seed": 2**64}).encode(), 400),
        ("lone surrogate", {}, json.dumps(good | {"prompt": "\ud800"}).encode(), 400),
        ("forged token", {"Authorization": "Bearer adl_forged"}, json.dumps(good).encode(), 401),
        ("no token", {"Authorization": ""}, json.dumps(good).encode(), 401),
        ("other tenant", {}, json.dumps(good | {"model": f"{world.models[other][0]}@{ALIAS}"}).encode(), 403),
        ("unknown model", {}, json.dumps(good | {"model": f"{tenant}/nothing@v1"}).encode(), 404),
    ]
    return rng.choice(cases)


async def one_request(client: httpx.AsyncClient, rng: random.Random, world: World, tally: Tally) -> None:
    tenant = rng.choice(TENANTS)
    auth = {"Authorization": f"Bearer {world.tokens[tenant]}"}
    kind = rng.choices(["completion", "chat", "stream", "stream left", "abandoned", "bad"], weights=[4, 3, 3, 1, 1, 2])[0]
    chat = kind == "chat" or rng.random() < 0.5
    path = "/v1/chat/completions" if chat else "/v1/completions"
    started = time.perf_counter()
    try:
        if kind == "bad":
            label, headers, content, expected = _bad_request(rng, world, tenant)
            headers = auth | {"Content-Type": "application/json"} | headers
            response = await client.post("/v1/completions", content=content, headers=headers)
            _record(tally, f"bad: {label}", str(response.status_code), str(expected))
        elif kind in ("stream", "stream left"):
            body = _good_body(rng, world, tenant, chat) | {"stream": True}
            async with client.stream("POST", path, json=body, headers=auth) as response:
                async for _line in response.aiter_lines():
                    if kind == "stream left":
                        break  # the client leaves after the first line
            _record(tally, kind, str(response.status_code), "200", time.perf_counter() - started)
        elif kind == "abandoned":
            try:
                await client.post(path, json=_good_body(rng, world, tenant, chat), headers=auth, timeout=GIVE_UP_AFTER_S)
                _record(tally, kind, "200", "200")
            except httpx.TimeoutException:
                _record(tally, kind, "abandoned", "abandoned")
        else:
            response = await client.post(path, json=_good_body(rng, world, tenant, chat), headers=auth)
            _record(tally, kind, str(response.status_code), "200", time.perf_counter() - started)
    except httpx.HTTPError as exc:
        _record(tally, kind, "transport error", "200", detail=type(exc).__name__)


def _record(tally: Tally, scenario: str, got: str, expected: str, latency_s: float | None = None, detail: str = "") -> None:
    tally.statuses[got] += 1
    if got != expected:
        tally.unexpected[f"{scenario}: got {got} {detail}".strip()] += 1
    elif latency_s is not None:
        tally.latencies_s.append(latency_s)


async def client_loop(url: str, world: World, seed: int, deadline: float, tally: Tally) -> None:
    rng = random.Random(seed)
    async with httpx.AsyncClient(base_url=url, timeout=REQUEST_TIMEOUT_S) as client:
        while time.monotonic() < deadline:
            await one_request(client, rng, world, tally)


def admin_loop(world: World, deadline: float, tally: Tally) -> None:
    """Promote v2 to production, later roll back to v1, for one model at a time, until the deadline."""
    admin = local_admin("soak-release")
    rng = random.Random(0)
    with Registry.open(world.registry) as registry:
        while time.monotonic() + ADMIN_EVERY_S < deadline:
            name = rng.choice([name for names in world.models.values() for name in names])
            registry.promote(admin, f"{name}@v2", ALIAS)
            time.sleep(ADMIN_EVERY_S / 2)
            registry.rollback(admin, name, ALIAS)
            tally.admin_changes += 2
            time.sleep(ADMIN_EVERY_S / 2)


async def soak(url: str, world: World, clients: int, seconds: float, tally: Tally) -> None:
    deadline = time.monotonic() + seconds
    admin = asyncio.to_thread(admin_loop, world, deadline, tally)
    await asyncio.gather(admin, *(client_loop(url, world, seed, deadline, tally) for seed in range(clients)))


def verify_audit(world: World) -> tuple[bool, str]:
    command = [*ADAPTLAB, "registry", "audit", "--verify", "--registry", str(world.registry)]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    last_lines = (completed.stdout + completed.stderr).strip().splitlines()[-1:]
    return completed.returncode == 0, " ".join(last_lines)


def main(
    minutes: float = typer.Option(10.0, min=0.1, help="how long the load runs"),
    clients: int = typer.Option(8, min=1, help="concurrent clients"),
    model: str = typer.Option("builtin:tiny", help="base model spec"),
    warmup_requests: int = typer.Option(40, min=0, help="requests before the starting RSS is read"),
) -> None:
    """Run the soak and print its figures; exit 1 if anything went wrong."""
    console = Console()
    root = Path(tempfile.mkdtemp(prefix="adaptlab-soak-"))
    with console.status("building the registry…"):
        world = build_world(root, model)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start_server(world, model, port, root / "server.log")
    try:
        with console.status("starting the server…"):
            wait_ready(url, server)
        process = psutil.Process(server.pid)
        warmup = Tally()
        asyncio.run(_warm_up(url, world, warmup_requests, warmup))
        rss_start = process.memory_info().rss
        tally = Tally()
        started = time.monotonic()
        with console.status(f"soaking for {minutes:g} min with {clients} clients…"):
            asyncio.run(soak(url, world, clients, minutes * 60, tally))
        elapsed_s = time.monotonic() - started
        rss_end = process.memory_info().rss
        healthy = httpx.get(f"{url}/readyz", timeout=10).status_code == 200
    finally:
        server.terminate()
        server.wait(timeout=60)
    audit_ok, audit_line = verify_audit(world)
    _print(console, tally, elapsed_s, rss_start, rss_end, healthy, audit_ok, audit_line, root)
    failed = tally.unexpected or not healthy or not audit_ok or any(s.startswith("5") for s in tally.statuses)
    raise typer.Exit(1 if failed else 0)


async def _warm_up(url: str, world: World, requests: int, tally: Tally) -> None:
    rng = random.Random(-1)
    async with httpx.AsyncClient(base_url=url, timeout=REQUEST_TIMEOUT_S) as client:
        for _ in range(requests):
            await one_request(client, rng, world, tally)


def _print(
    console: Console, tally: Tally, elapsed_s: float, rss_start: int, rss_end: int, healthy: bool, audit_ok: bool, audit_line: str, root: Path
) -> None:
    total = sum(tally.statuses.values())
    table = Table(title=f"soak: {total} requests in {elapsed_s / 60:.1f} min ({total / elapsed_s:.1f}/s)", show_header=False)
    for status, count in sorted(tally.statuses.items()):
        table.add_row(f"answered {status}", str(count))
    table.add_row("p50 / p99 latency (answered)", f"{percentile(tally.latencies_s, 0.5) * 1000:.0f} / {percentile(tally.latencies_s, 0.99) * 1000:.0f} ms")
    table.add_row("server RSS start → end", f"{rss_start / 2**20:.1f} → {rss_end / 2**20:.1f} MiB ({(rss_end - rss_start) / 2**20:+.1f})")
    table.add_row("promotes + rollbacks", str(tally.admin_changes))
    table.add_row("ready at the end", "yes" if healthy else "NO")
    table.add_row("audit --verify", ("intact: " if audit_ok else "BROKEN: ") + audit_line)
    for problem, count in tally.unexpected.most_common():
        table.add_row(f"[red]unexpected[/] {problem}", str(count))
    console.print(table)
    console.print(f"registry and server log in {root}")


if __name__ == "__main__":
    typer.run(main)
