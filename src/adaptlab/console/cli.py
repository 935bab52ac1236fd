"""`adaptlab ui`: the web console on a registry (docs/console.md)."""

import typer
from rich.console import Console

from adaptlab.cli_config import config_from_flags, with_config_options
from adaptlab.console.config import ConsoleConfig
from adaptlab.serve.cli import REGISTRY_ENVVARS


def ui_command(**flags) -> None:
    """Open the web console on a registry: models, versions, reports, audit log; approve and promote (docs/console.md)."""
    from adaptlab.console.server import serve_console

    config = config_from_flags(ConsoleConfig, flags)
    Console().print(
        f"adaptlab console on registry [bold]{config.registry}[/]: open [bold]http://{config.host}:{config.port}/[/] "
        "and sign in with a registry API token (`adaptlab registry token create`)"
    )
    serve_console(config)


def register(app: typer.Typer) -> None:
    app.command("ui")(with_config_options(ConsoleConfig, ui_command, envvars=REGISTRY_ENVVARS))
