"""`adaptlab registry ...`: a thin view of `adaptlab.registry.Registry`. The CLI acts as the local
administrator unless --token (or ADAPTLAB_TOKEN) names an API token; a refused command is audited."""

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from adaptlab.errors import ConfigError
from adaptlab.registry.cleanup import DEFAULT_OLDER_THAN_S

registry_app = typer.Typer(
    help="Governed registry: versions with lineage, approvals, gated aliases, rollback, audit log.",
    no_args_is_help=True,
)
tenant_app = typer.Typer(help="Tenants (every model name belongs to one).", no_args_is_help=True)
token_app = typer.Typer(help="API tokens scoped to a tenant and a role (reader, trainer, approver, admin).", no_args_is_help=True)
gates_app = typer.Typer(help="Promotion gates of a model name.", no_args_is_help=True)
registry_app.add_typer(tenant_app, name="tenant")
registry_app.add_typer(token_app, name="token")
registry_app.add_typer(gates_app, name="gates")

RegistryDir = Annotated[
    Path, typer.Option("--registry", envvar="ADAPTLAB_REGISTRY", help="registry folder: SQLite file, blobs/, checkouts/")
]
DbUrl = Annotated[
    Optional[str],
    typer.Option(
        "--db", envvar="ADAPTLAB_REGISTRY_DB", help="database URL, e.g. postgresql://user:pass@host/db (default: SQLite in --registry)"
    ),
]
BlobsUrl = Annotated[
    Optional[str],
    typer.Option("--blobs", envvar="ADAPTLAB_REGISTRY_BLOBS", help="fsspec URL for artifact blobs (default: <registry>/blobs)"),
]
Token = Annotated[
    Optional[str],
    typer.Option("--token", envvar="ADAPTLAB_TOKEN", help="act as this API token's principal instead of the local administrator"),
]
TenantOpt = Annotated[Optional[str], typer.Option("--tenant", envvar="ADAPTLAB_TENANT", help="tenant of names written without 'tenant/'")]
By = Annotated[Optional[str], typer.Option("--by", help="name recorded as acting (local administrator acting for someone)")]
AsJson = Annotated[bool, typer.Option("--json", help="print JSON instead of tables")]
DEFAULT_DIR = Path("registry")
_running_command: list[str] = []  # e.g. ["registry", "approve"]: what a refusal's audit entry names

console = Console()


def register(app: typer.Typer) -> None:
    app.add_typer(registry_app, name="registry")


@contextmanager
def _open(registry_dir: Path, db: str | None, blobs: str | None, token: str | None) -> Iterator[tuple]:
    """(Registry, acting Principal). A refusal (unknown token, wrong role or tenant) is recorded as `cli.denied`."""
    from adaptlab.registry import Registry, local_admin
    from adaptlab.registry.access import unknown_token_name
    from adaptlab.registry.errors import AccessDeniedError, AuthenticationError

    if (token is not None and not token.strip()) or (token is None and os.environ.get("ADAPTLAB_TOKEN") == ""):
        raise ConfigError(
            "the API token is empty (--token or ADAPTLAB_TOKEN): pass a token, or unset both to act as the local administrator"
        )
    with Registry.open(registry_dir, db=db, blobs=blobs) as registry:
        principal = None
        try:
            principal = local_admin() if token is None else registry.authenticate(token)
            yield registry, principal
        except (AccessDeniedError, AuthenticationError) as exc:
            actor = principal or local_admin(unknown_token_name(token))
            registry.audit_event(actor, "cli.denied", " ".join(_running_command), after={"reason": str(exc)})
            raise


@registry_app.callback()
def _remember_command(ctx: typer.Context) -> None:
    _running_command[:] = ["registry", ctx.invoked_subcommand]


# --- versions ---------------------------------------------------------------------------------


@registry_app.command("register")
def register_command(
    run_dir: Annotated[
        Path, typer.Argument(help="output folder of `adaptlab train` (holds run.json) or `adaptlab combine` (adaptlab_combine.json)")
    ],
    name: Annotated[str, typer.Option("--name", help="model name, or tenant/name")],
    tenant: TenantOpt = None,
    parent: Annotated[
        Optional[list[str]], typer.Option("--parent", help="a parent version this run was derived from, e.g. bot@v2 (repeatable)")
    ] = None,
    license: Annotated[Optional[str], typer.Option("--license", help="license id for the model card, e.g. apache-2.0")] = None,
    by: By = None,
    registry: RegistryDir = DEFAULT_DIR,
    db: DbUrl = None,
    blobs: BlobsUrl = None,
    token: Token = None,
) -> None:
    """Register a finished training run or a combined adapter as the next version of NAME (lineage is read from the folder)."""
    with _open(registry, db, blobs, token) as (reg, principal):
        record = reg.register(principal, run_dir, name, tenant=tenant, parents=parent or (), license=license, by=by)
    console.print(f"registered [bold]{record.ref}[/]")
    console.print(_version_table(record))


@registry_app.command("list")
def list_command(
    tenant: TenantOpt = None,
    as_json: AsJson = False,
    registry: RegistryDir = DEFAULT_DIR,
    db: DbUrl = None,
    blobs: BlobsUrl = None,
    token: Token = None,
) -> None:
    """Model names with their latest version and aliases."""
    with _open(registry, db, blobs, token) as (reg, principal):
        models = reg.list_models(principal, tenant)
    if as_json:
        typer.echo(json.dumps([m.model_dump() for m in models], indent=2))
        return
    table = Table("model", "latest", "aliases", "created by", title="registered models")
    for model in models:
        aliases = ", ".join(f"{alias}→v{version}" for alias, version in sorted(model.aliases.items()))
        table.add_row(
            f"{model.tenant}/{model.name}", f"v{model.latest_version}" if model.latest_version else "-", aliases or "-", model.created_by
        )
    console.print(table)


@registry_app.command("show")
def show_command(
    ref: Annotated[str, typer.Argument(help="NAME for an overview, or NAME@vN / NAME@ALIAS for one version")],
    tenant: TenantOpt = None,
    as_json: AsJson = False,
    registry: RegistryDir = DEFAULT_DIR,
    db: DbUrl = None,
    blobs: BlobsUrl = None,
    token: Token = None,
) -> None:
    """A model's versions, aliases and alias history, or one version's details."""
    if "@" in ref:
        with _open(registry, db, blobs, token) as (reg, principal):
            record = reg.get_version(principal, ref, tenant=tenant)
        if as_json:
            typer.echo(record.model_dump_json(indent=2))
        else:
            console.print(_version_table(record))
        return
    with _open(registry, db, blobs, token) as (reg, principal):
        versions = reg.list_versions(principal, ref, tenant=tenant)
        history = reg.alias_history(principal, ref, tenant=tenant)
        gates = reg.get_gates(principal, ref, tenant=tenant)
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "versions": [v.model_dump(mode="json") for v in versions],
                    "alias_history": [h.model_dump() for h in history],
                    "gates": gates.model_dump(),
                },
                indent=2,
            )
        )
        return
    table = Table("version", "registered", "by", "method", "eval_loss", "approvals", "aliases", title=f"versions of {ref}")
    for v in versions:
        eval_loss = v.metrics.get("eval_loss")
        table.add_row(
            f"v{v.version}",
            v.created_at[:19],
            v.created_by,
            v.method,
            "-" if eval_loss is None else f"{eval_loss:.4f}",
            str(len(v.approvals)),
            ", ".join(v.aliases) or "-",
        )
    console.print(table)
    console.print(_history_table(history))
    console.print(_gates_table(gates))


@registry_app.command("approve")
def approve_command(
    ref: Annotated[str, typer.Argument(help="NAME@vN (or NAME@ALIAS)")],
    note: Annotated[str, typer.Option("--note", help="what was reviewed")],
    by: By = None,
    tenant: TenantOpt = None,
    registry: RegistryDir = DEFAULT_DIR,
    db: DbUrl = None,
    blobs: BlobsUrl = None,
    token: Token = None,
) -> None:
    """Record an approval of a version."""
    with _open(registry, db, blobs, token) as (reg, principal):
        record = reg.approve(principal, ref, note, tenant=tenant, by=by)
    console.print(f"{record.ref}: approvals by {', '.join(a.approver for a in record.approvals)}")


@registry_app.command("promote")
def promote_command(
    ref: Annotated[str, typer.Argument(help="NAME@vN to promote")],
    alias: Annotated[str, typer.Option("--alias", help="alias to point at the version, e.g. production")],
    by: By = None,
    tenant: TenantOpt = None,
    registry: RegistryDir = DEFAULT_DIR,
    db: DbUrl = None,
    blobs: BlobsUrl = None,
    token: Token = None,
) -> None:
    """Point an alias at a version, if the model's gates pass (a refusal names each failed gate)."""
    with _open(registry, db, blobs, token) as (reg, principal):
        change = reg.promote(principal, ref, alias, tenant=tenant, by=by)
    _print_change(change, "promoted")


@registry_app.command("rollback")
def rollback_command(
    name: Annotated[str, typer.Argument(help="model NAME")],
    alias: Annotated[str, typer.Option("--alias", help="alias to move back, e.g. production")],
    by: By = None,
    tenant: TenantOpt = None,
    registry: RegistryDir = DEFAULT_DIR,
    db: DbUrl = None,
    blobs: BlobsUrl = None,
    token: Token = None,
) -> None:
    """Point an alias back at the version it pointed at before its current one."""
    with _open(registry, db, blobs, token) as (reg, principal):
        change = reg.rollback(principal, name, alias, tenant=tenant, by=by)
    _print_change(change, "rolled back")


@registry_app.command("lineage")
def lineage_command(
    ref: Annotated[str, typer.Argument(help="NAME@vN or NAME@ALIAS")],
    tenant: TenantOpt = None,
    as_json: AsJson = False,
    registry: RegistryDir = DEFAULT_DIR,
    db: DbUrl = None,
    blobs: BlobsUrl = None,
    token: Token = None,
) -> None:
    """Base model and hash, datasets and hashes, run config, metrics, environment, parent versions."""
    with _open(registry, db, blobs, token) as (reg, principal):
        record = reg.get_version(principal, ref, tenant=tenant)
    lineage = record.lineage
    if as_json:
        typer.echo(lineage.model_dump_json(indent=2))
        return
    table = Table("", "", title=f"lineage of {record.ref}", show_header=False)
    table.add_row("base model", f"{lineage.base_model.model_id} ({lineage.base_model.spec})")
    table.add_row("base weights sha256", lineage.base_model.weights_sha256)
    table.add_row("method / run", f"{lineage.method} / {lineage.run_id}")
    for file in lineage.data.files:
        table.add_row(f"{file.role} data", f"{file.path}\n{file.rows} rows, {file.bad_rows} bad, sha256 {file.sha256}")
    table.add_row("config", json.dumps(lineage.config, sort_keys=True))
    table.add_row("metrics", ", ".join(f"{k}={v:g}" for k, v in sorted(record.metrics.items())))
    table.add_row("libraries", ", ".join(f"{k} {v}" for k, v in sorted(lineage.environment.libraries.items())))
    table.add_row("code commit", lineage.environment.git_commit or "unknown")
    table.add_row("parent versions", ", ".join(lineage.parent_versions) or "none")
    if lineage.adapter_parents:
        table.add_row("parent adapter folders", "\n".join(lineage.adapter_parents))
    if lineage.imported_from:
        table.add_row("imported from", lineage.imported_from)
    console.print(table)


@registry_app.command("card")
def card_command(
    ref: Annotated[str, typer.Argument(help="NAME@vN or NAME@ALIAS")],
    output: Annotated[
        Optional[Path], typer.Option("--output", "-o", help="write the card here (e.g. README.md) instead of printing it")
    ] = None,
    tenant: TenantOpt = None,
    registry: RegistryDir = DEFAULT_DIR,
    db: DbUrl = None,
    blobs: BlobsUrl = None,
    token: Token = None,
) -> None:
    """A Hugging Face model card (README.md with YAML metadata) for a version."""
    from adaptlab import atomic

    with _open(registry, db, blobs, token) as (reg, principal):
        text = reg.card(principal, ref, tenant=tenant)
    if output is None:
        typer.echo(text)
        return
    atomic.write_text(output, text)
    console.print(f"model card written to {output}")


@registry_app.command("audit")
def audit_command(
    verify: Annotated[bool, typer.Option("--verify", help="recompute the hash chain; exit 1 naming the first bad entry")] = False,
    limit: Annotated[int, typer.Option("--limit", help="show the newest N entries (0: all)")] = 50,
    tenant: TenantOpt = None,
    registry: RegistryDir = DEFAULT_DIR,
    db: DbUrl = None,
    blobs: BlobsUrl = None,
    token: Token = None,
) -> None:
    """The audit log (who, what, when, before/after), or its verification."""
    with _open(registry, db, blobs, token) as (reg, principal):
        if verify:
            result = reg.verify_audit(principal)
        else:
            entries = reg.audit_entries(principal, tenant=tenant, limit=limit or None)
    if verify:
        if result.ok:
            console.print(f"[green]audit log intact[/]: {result.entries_checked} entries, hash chain verified, tables accounted for")
            return
        errors = Console(stderr=True, soft_wrap=True)
        if result.problem:
            errors.print(f"[bold red]audit log broken[/] at entry #{result.first_bad_seq}: {result.problem}")
        for row in result.unaccounted:
            errors.print(f"[bold red]state not in the audit log[/]: {row}")
        raise typer.Exit(1)
    table = Table("#", "when", "who", "action", "target", "before → after", title="audit log")
    for entry in entries:
        table.add_row(
            str(entry.seq),
            entry.at[:19],
            entry.actor,
            entry.action if entry.occurrences == 1 else f"{entry.action} ×{entry.occurrences} (last {entry.last_at[:19]})",
            entry.target,
            f"{_brief(entry.before)} → {_brief(entry.after)}",
        )
    console.print(table)


@registry_app.command("export")
def export_command(
    ref: Annotated[str, typer.Argument(help="NAME@vN or NAME@ALIAS")],
    bundle: Annotated[Path, typer.Argument(help="tar file to write")],
    tenant: TenantOpt = None,
    registry: RegistryDir = DEFAULT_DIR,
    db: DbUrl = None,
    blobs: BlobsUrl = None,
    token: Token = None,
) -> None:
    """Write a version's files, lineage and a manifest of hashes to a tar bundle."""
    with _open(registry, db, blobs, token) as (reg, principal):
        record = reg.export_bundle(principal, ref, bundle, tenant=tenant)
    console.print(f"exported {record.ref} ({len(record.files)} files) to {bundle}")


@registry_app.command("import")
def import_command(
    bundle: Annotated[Path, typer.Argument(help="tar file from `adaptlab registry export`")],
    name: Annotated[Optional[str], typer.Option("--name", help="register under this name (default: the bundle's)")] = None,
    tenant: TenantOpt = None,
    registry: RegistryDir = DEFAULT_DIR,
    db: DbUrl = None,
    blobs: BlobsUrl = None,
    token: Token = None,
) -> None:
    """Check a bundle against its manifest and register it as a new version."""
    with _open(registry, db, blobs, token) as (reg, principal):
        record = reg.import_bundle(principal, bundle, tenant=tenant, name=name)
    console.print(f"imported {record.lineage.imported_from} as [bold]{record.ref}[/]")
    console.print(_version_table(record))


@registry_app.command("gc")
def gc_command(
    older_than: Annotated[
        float,
        typer.Option("--older-than", min=0, help="seconds since a temporary's last write before it counts as stale (0: now)"),
    ] = DEFAULT_OLDER_THAN_S,
    registry: RegistryDir = DEFAULT_DIR,
    db: DbUrl = None,
    blobs: BlobsUrl = None,
    token: Token = None,
) -> None:
    """Delete artifact blobs no version references, and temporaries of killed writers (never a running one's)."""
    with _open(registry, db, blobs, token) as (reg, principal):
        report = reg.gc(principal, older_than_s=older_than)
    console.print(
        f"removed {len(report.blobs_deleted)} unreferenced blobs ({report.bytes_freed} bytes), {report.uploads_deleted} stale uploads "
        f"and {report.checkout_leftovers_deleted} checkout leftovers ({report.temporary_bytes_freed} bytes)"
    )


# --- tenants, tokens, gates -------------------------------------------------------------------


@tenant_app.command("create")
def tenant_create_command(
    name: Annotated[str, typer.Argument(help="tenant name")],
    registry: RegistryDir = DEFAULT_DIR,
    db: DbUrl = None,
    blobs: BlobsUrl = None,
    token: Token = None,
) -> None:
    """Create a tenant (local administrator only)."""
    with _open(registry, db, blobs, token) as (reg, principal):
        reg.create_tenant(principal, name)
    console.print(f"tenant {name} created")


@tenant_app.command("list")
def tenant_list_command(registry: RegistryDir = DEFAULT_DIR, db: DbUrl = None, blobs: BlobsUrl = None, token: Token = None) -> None:
    """Tenants you can see."""
    with _open(registry, db, blobs, token) as (reg, principal):
        names = reg.list_tenants(principal)
    table = Table("tenant", title="tenants")
    for tenant_name in names:
        table.add_row(tenant_name)
    console.print(table)


@token_app.command("create")
def token_create_command(
    tenant: Annotated[str, typer.Option("--tenant", help="tenant the token may act in")],
    role: Annotated[str, typer.Option("--role", help="reader, trainer, approver or admin")],
    name: Annotated[str, typer.Option("--name", help="who holds the token; recorded as actor in the audit log")],
    registry: RegistryDir = DEFAULT_DIR,
    db: DbUrl = None,
    blobs: BlobsUrl = None,
    token: Token = None,
) -> None:
    """Create an API token; it is printed once and stored only as a hash."""
    from adaptlab.registry.access import Role

    if role not in Role.__members__:
        raise ConfigError(f"--role {role!r}: choose one of {', '.join(Role.__members__)}")
    with _open(registry, db, blobs, token) as (reg, principal):
        secret = reg.create_token(principal, tenant, role, name)
    console.print(f"token for {name} ({role} in {tenant}); store it now, it is not shown again:")
    typer.echo(secret)


@token_app.command("list")
def token_list_command(
    tenant: Annotated[str, typer.Option("--tenant", help="tenant")],
    registry: RegistryDir = DEFAULT_DIR,
    db: DbUrl = None,
    blobs: BlobsUrl = None,
    token: Token = None,
) -> None:
    """A tenant's tokens (ids, holders, roles; never the tokens themselves)."""
    with _open(registry, db, blobs, token) as (reg, principal):
        rows = reg.list_tokens(principal, tenant)
    table = Table("id", "name", "role", "created", "revoked", title=f"API tokens of {tenant}")
    for row in rows:
        table.add_row(str(row.id), row.name, row.role, row.created_at[:19], (row.revoked_at or "-")[:19])
    console.print(table)


@token_app.command("revoke")
def token_revoke_command(
    token_id: Annotated[int, typer.Argument(help="id from `token list`")],
    registry: RegistryDir = DEFAULT_DIR,
    db: DbUrl = None,
    blobs: BlobsUrl = None,
    token: Token = None,
) -> None:
    """Revoke an API token."""
    with _open(registry, db, blobs, token) as (reg, principal):
        reg.revoke_token(principal, token_id)
    console.print(f"token {token_id} revoked")


@gates_app.command("set")
def gates_set_command(
    name: Annotated[str, typer.Argument(help="model NAME")],
    min_metric: Annotated[
        Optional[list[str]], typer.Option("--min-metric", help="METRIC=VALUE: promotion needs metric ≥ value (repeatable)")
    ] = None,
    max_metric: Annotated[
        Optional[list[str]], typer.Option("--max-metric", help="METRIC=VALUE: promotion needs metric ≤ value (repeatable)")
    ] = None,
    approvals: Annotated[int, typer.Option("--approvals", help="approvals needed before promotion")] = 1,
    allow_self_approval: Annotated[bool, typer.Option("--allow-self-approval", help="let the registrant's own approval count")] = False,
    alias: Annotated[Optional[list[str]], typer.Option("--alias", help="guard only these aliases (repeatable; default: all)")] = None,
    tenant: TenantOpt = None,
    registry: RegistryDir = DEFAULT_DIR,
    db: DbUrl = None,
    blobs: BlobsUrl = None,
    token: Token = None,
) -> None:
    """Replace the promotion gates of a model name."""
    from pydantic import ValidationError

    from adaptlab.registry.gates import GatePolicy

    try:
        policy = GatePolicy(
            min_metrics=_metric_bounds("--min-metric", min_metric),
            max_metrics=_metric_bounds("--max-metric", max_metric),
            required_approvals=approvals,
            approvers_distinct_from_registrant=not allow_self_approval,
            aliases=alias or [],
        )
    except ValidationError as exc:
        raise ConfigError(f"invalid gates: {exc}") from exc
    with _open(registry, db, blobs, token) as (reg, principal):
        reg.set_gates(principal, name, policy, tenant=tenant)
    console.print(_gates_table(policy, title=f"gates of {name}"))


@gates_app.command("show")
def gates_show_command(
    name: Annotated[str, typer.Argument(help="model NAME")],
    tenant: TenantOpt = None,
    registry: RegistryDir = DEFAULT_DIR,
    db: DbUrl = None,
    blobs: BlobsUrl = None,
    token: Token = None,
) -> None:
    """The promotion gates of a model name."""
    with _open(registry, db, blobs, token) as (reg, principal):
        policy = reg.get_gates(principal, name, tenant=tenant)
    console.print(_gates_table(policy, title=f"gates of {name}"))


# --- formatting -------------------------------------------------------------------------------


def _metric_bounds(flag: str, pairs: list[str] | None) -> dict[str, float]:
    """`["relative_score=95", ...]` -> {"relative_score": 95.0, ...}."""
    bounds = {}
    for pair in pairs or []:
        metric, _, value = (part.strip() for part in pair.partition("="))
        if not metric or not _is_number(value):
            raise ConfigError(f"{flag} {pair!r}: expected METRIC=NUMBER, e.g. {flag} relative_score=95")
        bounds[metric] = float(value)
    return bounds


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _version_table(record) -> Table:
    table = Table("", "", title=record.ref, show_header=False)
    table.add_row("registered", f"{record.created_at[:19]} by {record.created_by}")
    table.add_row("base model", f"{record.base_model_id} (weights sha256 {record.base_weights_sha256[:16]}…)")
    table.add_row("method / artifact", f"{record.method} / {record.artifact_kind}")
    table.add_row("run", record.run_id)
    table.add_row("files", "\n".join(f"{f.path}  {f.size_bytes} B  {f.sha256[:16]}…" for f in record.files))
    table.add_row("metrics", ", ".join(f"{k}={v:g}" for k, v in sorted(record.metrics.items())))
    table.add_row("approvals", "\n".join(f"{a.approver}: {a.note}" for a in record.approvals) or "none")
    table.add_row("aliases", ", ".join(record.aliases) or "none")
    table.add_row("parents", ", ".join(record.lineage.parent_versions) or "none")
    return table


def _history_table(history) -> Table:
    table = Table("alias", "version", "assigned", "by", "rolled back", title="alias history")
    for event in history:
        rolled = f"{event.rolled_back_at[:19]} by {event.rolled_back_by}" if event.rolled_back_at else "-"
        table.add_row(event.alias, f"v{event.version}", event.assigned_at[:19], event.assigned_by, rolled)
    return table


def _gates_table(policy, title: str = "promotion gates") -> Table:
    table = Table("gate", "requirement", title=title)
    for metric, bound in sorted(policy.min_metrics.items()):
        table.add_row(metric, f"≥ {bound:g}")
    for metric, bound in sorted(policy.max_metrics.items()):
        table.add_row(metric, f"≤ {bound:g}")
    distinct = " (not the registrant)" if policy.approvers_distinct_from_registrant else ""
    table.add_row("approvals", f"{policy.required_approvals}{distinct}")
    table.add_row("guards aliases", ", ".join(policy.aliases) or "all")
    return table


def _print_change(change, verb: str) -> None:
    target = f"{change.tenant}/{change.name}@{change.alias}"
    if not change.changed:
        console.print(f"{target} already points at v{change.to_version}; nothing changed")
        return
    before = f"v{change.from_version}" if change.from_version else "unset"
    console.print(f"{verb} {target}: {before} → [bold]v{change.to_version}[/]")


def _brief(value, width: int = 60) -> str:
    text = "-" if value is None else json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return text if len(text) <= width else text[: width - 1] + "…"
