"""`adaptlab registry ...`: a thin view of `adaptlab.registry.Registry`. Each command gets the registry
and the acting principal from the group's options (cli_options.py) and prints with display.py."""

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from adaptlab.data.prompt_profile import DEFAULT_PROFILE_PROMPTS
from adaptlab.errors import ConfigError
from adaptlab.registry import canary_display, display, review_cli
from adaptlab.registry.canary_cli import canary_app
from adaptlab.registry.cli_options import AsJson, By, RegistryGroup, TenantOpt, open_registry, registry_options
from adaptlab.registry.cleanup import DEFAULT_OLDER_THAN_S

registry_app = typer.Typer(
    cls=RegistryGroup,
    help="Governed registry: versions with lineage, approvals, gated aliases, rollback, audit log.",
    no_args_is_help=True,
)
tenant_app = typer.Typer(help="Tenants (every model name belongs to one).", no_args_is_help=True)
token_app = typer.Typer(help="API tokens scoped to a tenant and a role (reader, reviewer, trainer, approver, admin).", no_args_is_help=True)
gates_app = typer.Typer(help="Promotion gates of a model name.", no_args_is_help=True)
registry_app.add_typer(tenant_app, name="tenant")
registry_app.add_typer(token_app, name="token")
registry_app.add_typer(gates_app, name="gates")
registry_app.add_typer(canary_app, name="canary")
registry_app.callback()(registry_options)


console = Console()


def register(app: typer.Typer) -> None:
    app.add_typer(registry_app, name="registry")
    review_cli.register(app)


# --- versions ---------------------------------------------------------------------------------


@registry_app.command("register")
def register_command(
    ctx: typer.Context,
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
    drift_profile_prompts: Annotated[
        int,
        typer.Option(
            "--drift-profile-prompts",
            min=0,
            help="training prompts to embed into the drift reference profile stored with the version (0: store none)",
        ),
    ] = DEFAULT_PROFILE_PROMPTS,
) -> None:
    """Register a finished training run or a combined adapter as the next version of NAME (lineage is read from the folder)."""
    reg, principal = open_registry(ctx)
    record = reg.register(
        principal, run_dir, name, tenant=tenant, parents=parent or (), license=license, by=by, profile_prompts=drift_profile_prompts
    )
    console.print(f"registered [bold]{record.ref}[/]")
    console.print(display.version_table(record))


@registry_app.command("list")
def list_command(ctx: typer.Context, tenant: TenantOpt = None, as_json: AsJson = False) -> None:
    """Model names with their latest version and aliases."""
    reg, principal = open_registry(ctx)
    models = reg.list_models(principal, tenant)
    if as_json:
        typer.echo(json.dumps([m.model_dump() for m in models], indent=2))
        return
    console.print(display.models_table(models))


@registry_app.command("show")
def show_command(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="NAME for an overview, or NAME@vN / NAME@ALIAS for one version")],
    tenant: TenantOpt = None,
    as_json: AsJson = False,
) -> None:
    """A model's versions, aliases and alias history, or one version's details."""
    reg, principal = open_registry(ctx)
    if "@" in ref:
        record = reg.get_version(principal, ref, tenant=tenant)
        if as_json:
            typer.echo(record.model_dump_json(indent=2))
        else:
            console.print(display.version_table(record))
        return
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
    console.print(display.versions_table(ref, versions))
    console.print(display.history_table(history))
    console.print(display.gates_table(gates))


@registry_app.command("approve")
def approve_command(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="NAME@vN (or NAME@ALIAS)")],
    note: Annotated[str, typer.Option("--note", help="what was reviewed")],
    by: By = None,
    tenant: TenantOpt = None,
) -> None:
    """Record an approval of a version."""
    reg, principal = open_registry(ctx)
    record = reg.approve(principal, ref, note, tenant=tenant, by=by)
    console.print(f"{record.ref}: approvals by {', '.join(a.approver for a in record.approvals)}")


@registry_app.command("promote")
def promote_command(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="NAME@vN to promote")],
    alias: Annotated[str, typer.Option("--alias", help="alias to point at the version, e.g. production")],
    canary: Annotated[
        Optional[float],
        typer.Option(
            "--canary", help="PERCENT: send only this share of the alias's users to the version (a canary; see `registry canary`)"
        ),
    ] = None,
    by: By = None,
    tenant: TenantOpt = None,
) -> None:
    """Point an alias at a version, or with --canary a share of its users, if the model's gates pass (a refusal names each failed gate)."""
    reg, principal = open_registry(ctx)
    if canary is not None:
        record = reg.start_canary(principal, ref, alias, canary, tenant=tenant, by=by)
        console.print(canary_display.canary_line(ref, record))
        return
    change = reg.promote(principal, ref, alias, tenant=tenant, by=by)
    console.print(display.change_line(change, "promoted"))


@registry_app.command("rollback")
def rollback_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="model NAME")],
    alias: Annotated[str, typer.Option("--alias", help="alias to move back, e.g. production")],
    by: By = None,
    tenant: TenantOpt = None,
) -> None:
    """Point an alias back at the version it pointed at before its current one."""
    reg, principal = open_registry(ctx)
    change = reg.rollback(principal, name, alias, tenant=tenant, by=by)
    console.print(display.change_line(change, "rolled back"))


@registry_app.command("attach-report")
def attach_report_command(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="NAME@vN the comparison is about")],
    folder: Annotated[Path, typer.Argument(help="output folder of `adaptlab compare` (holds report.html)")],
    by: By = None,
    tenant: TenantOpt = None,
) -> None:
    """Store a comparison's report files with a version (as hashed blobs); `adaptlab ui` shows them in place."""
    reg, principal = open_registry(ctx)
    attached = reg.attach_report(principal, ref, folder, tenant=tenant, by=by)
    console.print(f"attached report #{attached.id} to {ref}: " + ", ".join(f"{f.path} ({f.sha256[:12]}…)" for f in attached.files))


@registry_app.command("lineage")
def lineage_command(
    ctx: typer.Context,
    ref: Annotated[Optional[str], typer.Argument(help="NAME@vN or NAME@ALIAS")] = None,
    uses_data: Annotated[
        Optional[str],
        typer.Option(
            "--uses-data",
            help="SHA256|FILE: list every version whose training or held-out data included this file, "
            "directly or through a parent version (for deletion requests)",
        ),
    ] = None,
    tenant: TenantOpt = None,
    as_json: AsJson = False,
) -> None:
    """Base model and hash, datasets and hashes, run config, metrics, environment, parent versions."""
    if (ref is None) == (uses_data is None):
        raise ConfigError("give a version (NAME@vN) or --uses-data SHA256|FILE, not both")
    reg, principal = open_registry(ctx)
    if uses_data is not None:
        from adaptlab.registry.data_use import data_sha256

        sha256 = data_sha256(uses_data)
        versions = reg.versions_using_data(principal, sha256)
        if as_json:
            typer.echo(json.dumps({"sha256": sha256, "versions": [version.ref for version in versions]}, indent=2))
            return
        console.print(display.data_users_table(sha256, versions))
        return
    record = reg.get_version(principal, ref, tenant=tenant)
    lineage = record.lineage
    if as_json:
        typer.echo(lineage.model_dump_json(indent=2))
        return
    console.print(display.lineage_table(record))


@registry_app.command("card")
def card_command(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="NAME@vN or NAME@ALIAS")],
    output: Annotated[
        Optional[Path], typer.Option("--output", "-o", help="write the card here (e.g. README.md) instead of printing it")
    ] = None,
    tenant: TenantOpt = None,
) -> None:
    """A Hugging Face model card (README.md with YAML metadata) for a version."""
    from adaptlab import atomic

    reg, principal = open_registry(ctx)
    text = reg.card(principal, ref, tenant=tenant)
    if output is None:
        typer.echo(text)
        return
    atomic.write_text(output, text)
    console.print(f"model card written to {output}")


@registry_app.command("audit")
def audit_command(
    ctx: typer.Context,
    verify: Annotated[bool, typer.Option("--verify", help="recompute the hash chain; exit 1 naming the first bad entry")] = False,
    limit: Annotated[int, typer.Option("--limit", help="show the newest N entries (0: all)")] = 50,
    tenant: TenantOpt = None,
) -> None:
    """The audit log (who, what, when, before/after), or its verification."""
    reg, principal = open_registry(ctx)
    if verify:
        result = reg.verify_audit(principal)
        if result.ok:
            console.print(f"[green]audit log intact[/]: {result.entries_checked} entries, hash chain verified, tables accounted for")
            return
        errors = Console(stderr=True, soft_wrap=True)
        if result.problem:
            errors.print(f"[bold red]audit log broken[/] at entry #{result.first_bad_seq}: {result.problem}")
        for row in result.unaccounted:
            errors.print(f"[bold red]state not in the audit log[/]: {row}")
        raise typer.Exit(1)
    console.print(display.audit_table(reg.audit_entries(principal, tenant=tenant, limit=limit or None)))


@registry_app.command("export")
def export_command(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="NAME@vN or NAME@ALIAS")],
    bundle: Annotated[Path, typer.Argument(help="tar file to write")],
    tenant: TenantOpt = None,
) -> None:
    """Write a version's files, lineage and a manifest of hashes to a tar bundle."""
    reg, principal = open_registry(ctx)
    record = reg.export_bundle(principal, ref, bundle, tenant=tenant)
    console.print(f"exported {record.ref} ({len(record.files)} files) to {bundle}")


@registry_app.command("import")
def import_command(
    ctx: typer.Context,
    bundle: Annotated[Path, typer.Argument(help="tar file from `adaptlab registry export`")],
    name: Annotated[Optional[str], typer.Option("--name", help="register under this name (default: the bundle's)")] = None,
    tenant: TenantOpt = None,
) -> None:
    """Check a bundle against its manifest and register it as a new version."""
    reg, principal = open_registry(ctx)
    record = reg.import_bundle(principal, bundle, tenant=tenant, name=name)
    console.print(f"imported {record.lineage.imported_from} as [bold]{record.ref}[/]")
    console.print(display.version_table(record))


@registry_app.command("gc")
def gc_command(
    ctx: typer.Context,
    older_than: Annotated[
        float,
        typer.Option("--older-than", min=0, help="seconds since a temporary's last write before it counts as stale (0: now)"),
    ] = DEFAULT_OLDER_THAN_S,
) -> None:
    """Delete artifact blobs no version references, and temporaries of killed writers (never a running one's)."""
    reg, principal = open_registry(ctx)
    report = reg.gc(principal, older_than_s=older_than)
    console.print(
        f"removed {len(report.blobs_deleted)} unreferenced blobs ({report.bytes_freed} bytes), {report.uploads_deleted} stale uploads "
        f"and {report.checkout_leftovers_deleted} checkout leftovers ({report.temporary_bytes_freed} bytes)"
    )


# --- tenants, tokens, gates -------------------------------------------------------------------


@tenant_app.command("create")
def tenant_create_command(ctx: typer.Context, name: Annotated[str, typer.Argument(help="tenant name")]) -> None:
    """Create a tenant (local administrator only)."""
    reg, principal = open_registry(ctx)
    reg.create_tenant(principal, name)
    console.print(f"tenant {name} created")


@tenant_app.command("list")
def tenant_list_command(ctx: typer.Context) -> None:
    """Tenants you can see."""
    reg, principal = open_registry(ctx)
    console.print(display.tenants_table(reg.list_tenants(principal)))


@token_app.command("create")
def token_create_command(
    ctx: typer.Context,
    tenant: Annotated[str, typer.Option("--tenant", help="tenant the token may act in")],
    role: Annotated[str, typer.Option("--role", help="reader, reviewer, trainer, approver or admin")],
    name: Annotated[str, typer.Option("--name", help="who holds the token; recorded as actor in the audit log")],
) -> None:
    """Create an API token; it is printed once and stored only as a hash."""
    from adaptlab.registry.access import Role

    if role not in Role.__members__:
        raise ConfigError(f"--role {role!r}: choose one of {', '.join(Role.__members__)}")
    reg, principal = open_registry(ctx)
    secret = reg.create_token(principal, tenant, role, name)
    console.print(f"token for {name} ({role} in {tenant}); store it now, it is not shown again:")
    typer.echo(secret)


@token_app.command("list")
def token_list_command(ctx: typer.Context, tenant: Annotated[str, typer.Option("--tenant", help="tenant")]) -> None:
    """A tenant's tokens (ids, holders, roles; never the tokens themselves)."""
    reg, principal = open_registry(ctx)
    console.print(display.tokens_table(tenant, reg.list_tokens(principal, tenant)))


@token_app.command("revoke")
def token_revoke_command(
    ctx: typer.Context,
    token_id: Annotated[int, typer.Argument(help="id from `token list`")],
) -> None:
    """Revoke an API token."""
    reg, principal = open_registry(ctx)
    reg.revoke_token(principal, token_id)
    console.print(f"token {token_id} revoked")


@gates_app.command("set")
def gates_set_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="model NAME")],
    min_metric: Annotated[
        Optional[list[str]], typer.Option("--min-metric", help="METRIC=VALUE: promotion needs metric ≥ value (repeatable)")
    ] = None,
    max_metric: Annotated[
        Optional[list[str]], typer.Option("--max-metric", help="METRIC=VALUE: promotion needs metric ≤ value (repeatable)")
    ] = None,
    require_pii_clean: Annotated[
        bool, typer.Option("--require-pii-clean", help="promotion needs a PII check with no unredacted findings in the data")
    ] = False,
    max_duplicate_rate: Annotated[
        Optional[float], typer.Option("--max-duplicate-rate", help="promotion needs a duplicate check with at most this rate (0-1)")
    ] = None,
    approvals: Annotated[int, typer.Option("--approvals", help="approvals needed before promotion")] = 1,
    allow_self_approval: Annotated[bool, typer.Option("--allow-self-approval", help="let the registrant's own approval count")] = False,
    min_review_win_rate: Annotated[
        Optional[float],
        typer.Option("--min-review-win-rate", help="promotion needs this win rate (0-1, ties half) in the version's newest review set"),
    ] = None,
    min_reviews: Annotated[int, typer.Option("--min-reviews", help="promotion needs this many votes in the version's newest review set")] = 0,
    alias: Annotated[Optional[list[str]], typer.Option("--alias", help="guard only these aliases (repeatable; default: all)")] = None,
    tenant: TenantOpt = None,
) -> None:
    """Replace the promotion gates of a model name."""
    from pydantic import ValidationError

    from adaptlab.registry.gates import GatePolicy, data_gate_bounds

    try:
        policy = GatePolicy(
            min_metrics=_metric_bounds("--min-metric", min_metric),
            max_metrics=_metric_bounds("--max-metric", max_metric) | data_gate_bounds(require_pii_clean, max_duplicate_rate),
            required_approvals=approvals,
            approvers_distinct_from_registrant=not allow_self_approval,
            aliases=alias or [],
            min_review_win_rate=min_review_win_rate,
            min_reviews=min_reviews,
        )
    except ValidationError as exc:
        raise ConfigError(f"invalid gates: {exc}") from exc
    reg, principal = open_registry(ctx)
    reg.set_gates(principal, name, policy, tenant=tenant)
    console.print(display.gates_table(policy, title=f"gates of {name}"))


@gates_app.command("show")
def gates_show_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="model NAME")],
    tenant: TenantOpt = None,
) -> None:
    """The promotion gates of a model name."""
    reg, principal = open_registry(ctx)
    policy = reg.get_gates(principal, name, tenant=tenant)
    console.print(display.gates_table(policy, title=f"gates of {name}"))


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
