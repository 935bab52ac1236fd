"""The `adaptlab` command. Thin: each area registers its own commands from its `cli` module."""

import importlib
import sys

import typer
from rich.console import Console

from adaptlab.errors import AdaptlabError

app = typer.Typer(
    name="adaptlab",
    help="LoRA or full fine-tuning? Train, compare, recommend, govern and serve adapters.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

# One line per area; each module defines `register(app)`.
AREAS = (
    "adaptlab.data.cli",
    "adaptlab.train.cli",
    "adaptlab.compare.cli",
    "adaptlab.registry.cli",
    "adaptlab.adapters.cli",
    "adaptlab.serve.cli",
    "adaptlab.console.cli",
)

for area in AREAS:
    importlib.import_module(area).register(app)


def main() -> None:
    """Entry point: usage errors are click's (exit 2); user errors print one message, never a stack trace."""
    try:
        app()
    except AdaptlabError as exc:
        Console(stderr=True).print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        Console(stderr=True).print("interrupted")
        sys.exit(130)
