"""The options of `adaptlab registry` itself: which registry (--registry, --db, --blobs) and who acts
(--token; the local administrator without one). They are accepted before or after the command, and a
command opens the registry once, on first use, so `--help` opens nothing; it is closed when the command ends.
A refused command (unknown token, wrong role or tenant) is recorded in the audit log as `cli.denied`."""

import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from typer.core import TyperGroup

from adaptlab.errors import ConfigError
from adaptlab.registry.errors import AccessDeniedError, AuditedDenialError, AuthenticationError

if TYPE_CHECKING:
    from adaptlab.registry import Principal, Registry

_OPENED = "adaptlab.registry"  # ctx.meta key of the opened Registry

# Options several commands share.
TenantOpt = Annotated[Optional[str], typer.Option("--tenant", envvar="ADAPTLAB_TENANT", help="tenant of names written without 'tenant/'")]
By = Annotated[Optional[str], typer.Option("--by", help="name recorded as acting (local administrator acting for someone)")]
AsJson = Annotated[bool, typer.Option("--json", help="print JSON instead of tables")]


class RegistryGroup(TyperGroup):
    """Takes the group's own options (--registry, --db, --blobs, --token) anywhere on the command line,
    e.g. `adaptlab registry show acme/bot --registry /srv/registry`, as every command did when each declared them."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:
        own = {name for param in self.params if param.param_type_name == "option" for name in param.opts}
        return super().parse_args(ctx, options_first(args, own))

    def invoke(self, ctx: typer.Context):
        try:
            return super().invoke(ctx)
        except (AccessDeniedError, AuthenticationError) as exc:
            _record_refusal(ctx, exc)
            raise


def options_first(args: list[str], names: set[str]) -> list[str]:
    """`args` with each `--name VALUE` / `--name=VALUE` of `names` moved to the front (none after `--`;
    a name missing its value stays where it is, for click to report)."""
    front, rest, position = [], [], 0
    while position < len(args):
        arg = args[position]
        if arg == "--":
            rest += args[position:]
            break
        width = 1 if "=" in arg else 2
        if arg.split("=", 1)[0] in names and position + width <= len(args):
            front += args[position : position + width]
            position += width
        else:
            rest.append(arg)
            position += 1
    return front + rest


def registry_options(
    ctx: typer.Context,
    registry: Annotated[
        Path, typer.Option("--registry", envvar="ADAPTLAB_REGISTRY", help="registry folder: SQLite file, blobs/, checkouts/")
    ] = Path("registry"),
    db: Annotated[
        Optional[str],
        typer.Option(
            "--db", envvar="ADAPTLAB_REGISTRY_DB", help="database URL, e.g. postgresql://user:pass@host/db (default: SQLite in --registry)"
        ),
    ] = None,
    blobs: Annotated[
        Optional[str],
        typer.Option("--blobs", envvar="ADAPTLAB_REGISTRY_BLOBS", help="fsspec URL for artifact blobs (default: <registry>/blobs)"),
    ] = None,
    token: Annotated[
        Optional[str],
        typer.Option("--token", envvar="ADAPTLAB_TOKEN", help="act as this API token's principal instead of the local administrator"),
    ] = None,
) -> None:
    """Which registry, and who acts; opened by the command on first use (so `--help` opens nothing)."""

    def connect():
        from adaptlab.registry import Registry, local_admin

        if (token is not None and not token.strip()) or (token is None and os.environ.get("ADAPTLAB_TOKEN") == ""):
            raise ConfigError(
                "the API token is empty (--token or ADAPTLAB_TOKEN): pass a token, or unset both to act as the local administrator"
            )
        opened = ctx.meta[_OPENED] = ctx.with_resource(Registry.open(registry, db=db, blobs=blobs))
        return opened, opened.authenticate(token) if token else local_admin()

    ctx.obj = functools.cache(connect)


def open_registry(ctx: typer.Context) -> tuple["Registry", "Principal"]:
    """(Registry, acting Principal) as the group's options name them, closed when the command ends."""
    return ctx.obj()


def _record_refusal(ctx: typer.Context, refusal: AccessDeniedError | AuthenticationError) -> None:
    """Audit a refused command (identical repeats within a minute only count, see denials.py); never the token itself.
    A refusal the service has audited itself (AuditedDenialError) is not recorded twice."""
    from adaptlab.registry import local_admin
    from adaptlab.registry.access import unknown_token_name

    if _OPENED not in ctx.meta or isinstance(refusal, AuditedDenialError):
        return
    if isinstance(refusal, AuthenticationError):
        registry, actor = ctx.meta[_OPENED], local_admin(unknown_token_name(ctx.params["token"]))
    else:
        registry, actor = open_registry(ctx)
    registry.audit_event(actor, "cli.denied", f"{ctx.info_name} {ctx.invoked_subcommand}", after={"reason": str(refusal)})
