"""`adaptlab serve`: one base model, the registry's adapters, an OpenAI-compatible API."""

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from adaptlab.cli_config import config_from_flags, with_config_options
from adaptlab.registry.cli import registry_app
from adaptlab.registry.cli_options import open_registry
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
        "engine": runtime.engine.describe(),
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
    registry_app.command("export-vllm")(export_vllm_command)


def export_vllm_command(
    ctx: typer.Context,
    model: Annotated[str, typer.Option("--model", help="the base model vLLM serves (as for `adaptlab serve --model`)")],
    out: Annotated[Path, typer.Option("--out", help="folder to copy the adapters into (vLLM must see it at this path)")],
    tenant: Annotated[str | None, typer.Option("--tenant", help="only this tenant's versions (default: every tenant the token may read)")] = None,
) -> None:
    """Copy every version vLLM may serve for a base into one folder and write its `--lora-modules` (docs/deploy.md)."""
    from adaptlab import atomic
    from adaptlab.models import resolve_model
    from adaptlab.serve.vllm_export import LORA_MODULES_FILE, export_for_vllm, lora_module_argument

    registry, principal = open_registry(ctx)
    base = resolve_model(model)
    export = export_for_vllm(registry, principal, base, out, tenant=tenant)
    arguments = [lora_module_argument(name, folder, str(base.path)) for name, folder in export.modules.items()]
    atomic.write_text(out / LORA_MODULES_FILE, "".join(f"{argument}\n" for argument in arguments))
    console = Console()
    for ref, reason in export.skipped.items():
        console.print(f"[yellow]skipped[/] {ref}: {reason}")
    console.print(f"{len(arguments) - 1} version(s) and the zero adapter in {out}; start vLLM with:")
    quoted = " ".join(f"'{argument}'" for argument in arguments)
    console.print(f"VLLM_ALLOW_RUNTIME_LORA_UPDATING=True vllm serve {base.path} --enable-lora --lora-modules {quoted}", soft_wrap=True)
