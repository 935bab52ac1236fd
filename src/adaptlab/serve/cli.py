"""`adaptlab serve`: one base model, the registry's adapters, an OpenAI-compatible API."""

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from adaptlab.serve.config import ServeConfig

_DEFAULTS = ServeConfig.model_fields


def _help(name: str) -> str:
    return _DEFAULTS[name].description


def serve_command(
    model: str = typer.Option(..., "--model", help=_help("model")),
    registry: Path = typer.Option(Path("registry"), "--registry", envvar="ADAPTLAB_REGISTRY", help=_help("registry")),
    db: str | None = typer.Option(None, "--db", envvar="ADAPTLAB_REGISTRY_DB", help=_help("db")),
    blobs: str | None = typer.Option(None, "--blobs", envvar="ADAPTLAB_REGISTRY_BLOBS", help=_help("blobs")),
    host: str = typer.Option(_DEFAULTS["host"].default, "--host", help=_help("host")),
    port: int = typer.Option(_DEFAULTS["port"].default, "--port", help=_help("port")),
    merge: str | None = typer.Option(None, "--merge", help=_help("merge")),
    allow_unapproved: bool = typer.Option(False, "--allow-unapproved", help=_help("allow_unapproved")),
    alias_ttl_s: float = typer.Option(_DEFAULTS["alias_ttl_s"].default, "--alias-ttl-s", help=_help("alias_ttl_s")),
    pin: list[str] = typer.Option([], "--pin", help=_help("pin") + "; repeat for several"),
    max_batch_size: int = typer.Option(_DEFAULTS["max_batch_size"].default, "--max-batch-size", help=_help("max_batch_size")),
    max_wait_ms: float = typer.Option(_DEFAULTS["max_wait_ms"].default, "--max-wait-ms", help=_help("max_wait_ms")),
    cache_bytes: int = typer.Option(_DEFAULTS["cache_bytes"].default, "--cache-bytes", help=_help("cache_bytes")),
    max_tokens_limit: int = typer.Option(_DEFAULTS["max_tokens_limit"].default, "--max-tokens-limit", help=_help("max_tokens_limit")),
    max_concurrent_requests: int = typer.Option(
        _DEFAULTS["max_concurrent_requests"].default, "--max-concurrent-requests", help=_help("max_concurrent_requests")
    ),
    max_concurrent_per_tenant: int = typer.Option(
        _DEFAULTS["max_concurrent_per_tenant"].default, "--max-concurrent-per-tenant", help=_help("max_concurrent_per_tenant")
    ),
    torch_threads: int | None = typer.Option(None, "--torch-threads", help=_help("torch_threads")),
) -> None:
    """Serve a base model and the registry's adapters (OpenAI-compatible; see docs/serving.md)."""
    from pydantic import ValidationError

    from adaptlab.errors import ConfigError
    from adaptlab.serve.runtime import build_runtime
    from adaptlab.serve.server import serve_forever

    try:
        config = ServeConfig(
            model=model,
            registry=registry,
            db=db,
            blobs=blobs,
            host=host,
            port=port,
            merge=merge,
            allow_unapproved=allow_unapproved,
            alias_ttl_s=alias_ttl_s,
            pin=tuple(pin),
            max_batch_size=max_batch_size,
            max_wait_ms=max_wait_ms,
            cache_bytes=cache_bytes,
            max_tokens_limit=max_tokens_limit,
            max_concurrent_requests=max_concurrent_requests,
            max_concurrent_per_tenant=max_concurrent_per_tenant,
            torch_threads=torch_threads,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigError(f"--{str(first['loc'][0]).replace('_', '-')}: {first['msg']}") from exc
    console = Console()
    with console.status(f"loading {model}…"):
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
    app.command("serve")(serve_command)
