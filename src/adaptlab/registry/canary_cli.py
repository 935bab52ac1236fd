"""`adaptlab registry canary status|promote|abort NAME --alias A`: a canary started by
`adaptlab registry promote NAME@vN --alias A --canary PERCENT`, watched and ended (registry/canary.py)."""

from typing import Annotated

import typer
from rich.console import Console

from adaptlab.registry import canary_display, display
from adaptlab.registry.canary_figures import DEFAULT_GAP
from adaptlab.registry.cli_options import AsJson, By, TenantOpt, open_registry

canary_app = typer.Typer(help="Canaries: a candidate version answering a share of an alias's users.", no_args_is_help=True)
Name = Annotated[str, typer.Argument(help="model NAME")]
Alias = Annotated[str, typer.Option("--alias", help="the alias the canary runs on, e.g. production")]

console = Console()


@canary_app.command("status")
def status_command(
    ctx: typer.Context,
    name: Name,
    alias: Alias,
    gap: Annotated[
        float, typer.Option("--gap", help="smallest positive-feedback rate difference worth detecting (sets the traffic needed)")
    ] = DEFAULT_GAP,
    tenant: TenantOpt = None,
    as_json: AsJson = False,
) -> None:
    """Per-arm requests, errors, latency, time to first token, output tokens and feedback with 95 % intervals,
    a two-sided test of each difference, and whether there is enough traffic to decide."""
    reg, principal = open_registry(ctx)
    status = reg.canary_status(principal, name, alias, tenant=tenant, gap=gap)
    if as_json:
        typer.echo(status.model_dump_json(indent=2))
        return
    console.print(canary_display.status_table(status))
    console.print(canary_display.decision_line(status))


@canary_app.command("promote")
def promote_command(ctx: typer.Context, name: Name, alias: Alias, by: By = None, tenant: TenantOpt = None) -> None:
    """End the canary: the alias points at the candidate for every user (the gates are checked again)."""
    reg, principal = open_registry(ctx)
    console.print(display.change_line(reg.promote_canary(principal, name, alias, tenant=tenant, by=by), "promoted the canary:"))


@canary_app.command("abort")
def abort_command(ctx: typer.Context, name: Name, alias: Alias, by: By = None, tenant: TenantOpt = None) -> None:
    """End the canary: every user of the alias is answered by the stable version again."""
    reg, principal = open_registry(ctx)
    record = reg.abort_canary(principal, name, alias, tenant=tenant, by=by)
    console.print(f"aborted the canary of v{record.candidate_version} on {name}@{alias}: every user gets v{record.stable_version} again")
