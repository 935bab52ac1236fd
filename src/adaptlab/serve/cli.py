"""`adaptlab serve`: one base model, the registry's adapters, an OpenAI-compatible API."""

import typer
from rich.console import Console
from rich.table import Table

from adaptlab.cli_config import config_from_flags, with_config_options
from adaptlab.serve.config import ServeConfig

# The registry flags read the same environment variables as `adaptlab registry`.
REGISTRY_ENVVARS = {"registry": "ADAPTLAB_REGISTRY", "db": "ADAPTLAB_REGISTRY_DB", "blobs": "ADAPTLAB_REGISTRY_BLOBS"}


def serve_command(**flags) -> None:
    """Serve a base model and the registry's adapters (OpenAI-compatible; see docs/serving.md)."""
    from adaptlab.serve.runtime import build_runtime
    from adaptlab.serve.server import serve_forever

    config = config_from_flags(ServeConfig, flags)
    console = Console()
    with console.status(f"loading {config.model}…"):
        runtime = build_runtime(config)
    table = Table(title="adaptlab serve", show_header=False)
    for key, value in {
        "base model": f"{config.model} ({runtime.base.model_id})",
        "serving": f"{runtime.merged.ref} merged" if runtime.merged else "base + registry adapters",
        "versions": "any registered version the token's tenant owns" if config.allow_unapproved else "approved or aliased only",
        "registry": str(config.registry),
        "batching": f"up to {config.max_batch_size} requests, waiting ≤ {config.max_wait_ms:g} ms",
        "adapter cache": f"{config.cache_bytes:,} bytes, pinned: {', '.join(config.pin) or '-'}",
        "listening": f"http://{config.host}:{config.port}/v1",
    }.items():
        table.add_row(key, value)
    console.print(table)
    serve_forever(runtime)
    _print_summary(console, runtime.metrics.requests_by_adapter())


def _print_summary(console: Console, requests: dict[str, dict[str, int]]) -> None:
    summary = Table(title="requests answered")
    summary.add_column("model")
    summary.add_column("ok", justify="right")
    summary.add_column("refused (4xx)", justify="right")
    summary.add_column("failed (5xx)", justify="right")
    for adapter, by_status in sorted(requests.items()):
        counts = [sum(n for status, n in by_status.items() if status.startswith(first)) for first in "245"]
        summary.add_row(adapter, *map(str, counts))
    console.print(summary if requests else "no requests answered")


def register(app: typer.Typer) -> None:
    from adaptlab.serve.monitor_cli import monitor_app

    app.command("serve")(with_config_options(ServeConfig, serve_command, envvars=REGISTRY_ENVVARS))
    app.add_typer(monitor_app, name="monitor")
