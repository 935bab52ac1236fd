"""What `adaptlab registry` prints: Rich tables and one-line summaries, pure functions of the registry's entities."""

import json
from typing import Any

from rich.table import Table

from adaptlab.registry.entities import AliasChange, AliasEvent, AuditEntry, ModelSummary, TokenRecord, VersionRecord
from adaptlab.registry.gates import GatePolicy


def models_table(models: list[ModelSummary]) -> Table:
    table = Table("model", "latest", "aliases", "created by", title="registered models")
    for model in models:
        aliases = ", ".join(f"{alias}→v{version}" for alias, version in sorted(model.aliases.items()))
        table.add_row(
            f"{model.tenant}/{model.name}", f"v{model.latest_version}" if model.latest_version else "-", aliases or "-", model.created_by
        )
    return table


def versions_table(name: str, versions: list[VersionRecord]) -> Table:
    table = Table("version", "registered", "by", "method", "eval_loss", "approvals", "aliases", title=f"versions of {name}")
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
    return table


def data_users_table(sha256: str, versions: list[VersionRecord]) -> Table:
    """Versions whose data included a file (directly, or through the parents listed beside them)."""
    table = Table("version", "registered", "method", "parents", title=f"versions using data {sha256}")
    for v in versions:
        table.add_row(v.ref, v.created_at[:19], v.method, ", ".join(v.lineage.parent_versions) or "-")
    return table


def version_table(record: VersionRecord) -> Table:
    table = Table("", "", title=record.ref, show_header=False)
    table.add_row("registered", f"{record.created_at[:19]} by {record.created_by}")
    table.add_row("base model", f"{record.base_model_id} (weights sha256 {record.base_weights_sha256[:16]}…)")
    table.add_row("method / artifact", f"{record.method} / {record.artifact_kind}")
    table.add_row("run", record.run_id)
    table.add_row("files", "\n".join(f"{f.path}  {f.size_bytes} B  {f.sha256[:16]}…" for f in record.files))
    table.add_row("metrics", _metrics(record))
    table.add_row("approvals", "\n".join(f"{a.approver}: {a.note}" for a in record.approvals) or "none")
    table.add_row("aliases", ", ".join(record.aliases) or "none")
    table.add_row("parents", ", ".join(record.lineage.parent_versions) or "none")
    return table


def lineage_table(record: VersionRecord) -> Table:
    lineage = record.lineage
    table = Table("", "", title=f"lineage of {record.ref}", show_header=False)
    table.add_row("base model", f"{lineage.base_model.model_id} ({lineage.base_model.spec})")
    table.add_row("base weights sha256", lineage.base_model.weights_sha256)
    if lineage.base_version:
        table.add_row("base version", f"{lineage.base_version} (serve on that version's weights)")
    table.add_row("method / run", f"{lineage.method} / {lineage.run_id}")
    for file in lineage.data.files:
        table.add_row(f"{file.role} data", f"{file.path}\n{file.rows} rows, {file.bad_rows} bad, sha256 {file.sha256}")
    table.add_row("config", json.dumps(lineage.config, sort_keys=True))
    table.add_row("metrics", _metrics(record))
    table.add_row("libraries", ", ".join(f"{k} {v}" for k, v in sorted(lineage.environment.libraries.items())))
    table.add_row("code commit", lineage.environment.git_commit or "unknown")
    table.add_row("parent versions", ", ".join(lineage.parent_versions) or "none")
    if lineage.adapter_parents:
        table.add_row("parent adapter folders", "\n".join(lineage.adapter_parents))
    if lineage.imported_from:
        table.add_row("imported from", lineage.imported_from)
    return table


def history_table(history: list[AliasEvent]) -> Table:
    table = Table("alias", "event", "version", "at", "by", "rolled back", title="alias history")
    for event in history:
        rolled = f"{event.rolled_back_at[:19]} by {event.rolled_back_by}" if event.rolled_back_at else "-"
        kind = event.kind.replace("_", " ") + (f" ({event.share_percent:g} %)" if event.kind == "canary_start" else "")
        table.add_row(event.alias, kind, f"v{event.version}", event.assigned_at[:19], event.assigned_by, rolled)
    return table


def gates_table(policy: GatePolicy, title: str = "promotion gates") -> Table:
    table = Table("gate", "requirement", title=title)
    for metric, bound in sorted(policy.min_metrics.items()):
        table.add_row(metric, f"≥ {bound:g}")
    for metric, bound in sorted(policy.max_metrics.items()):
        table.add_row(metric, f"≤ {bound:g}")
    distinct = " (not the registrant)" if policy.approvers_distinct_from_registrant else ""
    table.add_row("approvals", f"{policy.required_approvals}{distinct}")
    if policy.min_review_win_rate is not None or policy.min_reviews:
        win_rate = f"win rate ≥ {policy.min_review_win_rate:g}, " if policy.min_review_win_rate is not None else ""
        table.add_row("human review", f"{win_rate}{policy.min_reviews} votes at least (newest review set)")
    table.add_row("guards aliases", ", ".join(policy.aliases) or "all")
    return table


def audit_table(entries: list[AuditEntry]) -> Table:
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
    return table


def tenants_table(names: list[str]) -> Table:
    table = Table("tenant", title="tenants")
    for name in names:
        table.add_row(name)
    return table


def tokens_table(tenant: str, tokens: list[TokenRecord]) -> Table:
    table = Table("id", "name", "role", "created", "revoked", title=f"API tokens of {tenant}")
    for token in tokens:
        table.add_row(str(token.id), token.name, token.role, token.created_at[:19], (token.revoked_at or "-")[:19])
    return table


def change_line(change: AliasChange, verb: str) -> str:
    target = f"{change.tenant}/{change.name}@{change.alias}"
    if not change.changed:
        return f"{target} already points at v{change.to_version}; nothing changed"
    before = f"v{change.from_version}" if change.from_version else "unset"
    return f"{verb} {target}: {before} → [bold]v{change.to_version}[/]"


def _metrics(record: VersionRecord) -> str:
    return ", ".join(f"{k}={v:g}" for k, v in sorted(record.metrics.items()))


def _brief(value: Any, width: int = 60) -> str:
    text = "-" if value is None else json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return text if len(text) <= width else text[: width - 1] + "…"
