"""The rows the audit log accounts for, read from the tables as `replay.Fact`s (each naming its row)."""

import json
from collections.abc import Iterator

from sqlalchemy import select
from sqlalchemy.orm import Session

from adaptlab.registry.replay import Fact
from adaptlab.registry.review_items import items_sha256
from adaptlab.registry.tables import (
    AliasAssignment,
    AliasCanary,
    ApiToken,
    Approval,
    ModelVersion,
    RegisteredModel,
    ReportAttachment,
    ReportFile,
    ReviewItem,
    ReviewSet,
    ReviewVote,
    Tenant,
    VersionFile,
)


def current_facts(session: Session) -> Iterator[Fact]:
    tenants = {row.id: row.name for row in session.scalars(select(Tenant))}
    models = {row.id: row for row in session.scalars(select(RegisteredModel))}
    versions = {row.id: row for row in session.scalars(select(ModelVersion))}

    def model_key(model_id: int) -> tuple[str, str]:
        return tenants[models[model_id].tenant_id], models[model_id].name

    def version_key(version_id: int) -> tuple[str, str, int]:
        return (*model_key(versions[version_id].model_id), versions[version_id].version)

    for tenant_id, name in tenants.items():
        yield Fact("tenants", (name,), {}, f"tenants row {tenant_id}")
    for token in session.scalars(select(ApiToken)):
        values = {"tenant": tenants[token.tenant_id], "name": token.name, "role": token.role, "revoked": token.revoked_at is not None}
        yield Fact("api_tokens", (token.id,), values, f"api_tokens row {token.id}")
    for model in models.values():
        if model.gate_policy_json is not None:
            yield Fact("models", model_key(model.id), {"gate_policy": json.loads(model.gate_policy_json)}, f"models row {model.id}")
    files: dict[int, dict[str, str]] = {}
    for file in session.scalars(select(VersionFile)):
        files.setdefault(file.version_id, {})[file.path] = file.sha256
    for row in versions.values():
        values = {"created_by": row.created_by, "run_id": row.run_id, "files": files.get(row.id, {}), "metrics": row.metrics}
        yield Fact("versions", version_key(row.id), values, f"versions row {row.id}")
    for approval in session.scalars(select(Approval)):
        key = (*version_key(approval.version_id), approval.approver)
        yield Fact("approvals", key, {"note": approval.note}, f"approvals row {approval.id}")
    report_files: dict[int, dict[str, str]] = {}
    for file in session.scalars(select(ReportFile)):
        report_files.setdefault(file.attachment_id, {})[file.path] = file.sha256
    for attachment in session.scalars(select(ReportAttachment)):
        values = {"files": report_files.get(attachment.id, {}), "attached_by": attachment.attached_by}
        yield Fact("report_attachments", (*version_key(attachment.version_id), attachment.id), values, f"report_attachments row {attachment.id}")
    counts: dict[tuple, int] = {}
    for assignment in session.scalars(select(AliasAssignment).order_by(AliasAssignment.id)):
        alias_key = (*model_key(assignment.model_id), assignment.alias)
        counts[alias_key] = counts.get(alias_key, 0) + 1
        version = versions[assignment.version_id]
        values = {
            "version": version.version if version.model_id == assignment.model_id else "/".join(map(str, version_key(version.id))),
            "assigned_by": assignment.assigned_by,
            "rolled_back": assignment.rolled_back_at is not None,
            "rolled_back_by": assignment.rolled_back_by,
        }
        yield Fact("alias_history", (*alias_key, counts[alias_key]), values, f"alias_history row {assignment.id}")
    canaries: dict[tuple, int] = {}
    for canary in session.scalars(select(AliasCanary).order_by(AliasCanary.id)):
        alias_key = (*model_key(canary.model_id), canary.alias)
        canaries[alias_key] = canaries.get(alias_key, 0) + 1
        values = {
            "stable": versions[canary.stable_version_id].version,
            "candidate": versions[canary.candidate_version_id].version,
            "share_percent": canary.share_percent,
            "started_by": canary.started_by,
            "outcome": canary.outcome,
            "ended_by": canary.ended_by,
        }
        yield Fact("alias_canaries", (*alias_key, canaries[alias_key]), values, f"alias_canaries row {canary.id}")
    yield from _review_facts(session, tenants)


def _review_facts(session: Session, tenants: dict[int, str]) -> Iterator[Fact]:
    items: dict[int, list[ReviewItem]] = {}
    for item in session.scalars(select(ReviewItem).order_by(ReviewItem.review_set_id, ReviewItem.position)):
        items.setdefault(item.review_set_id, []).append(item)
    reviews = {row.id: row for row in session.scalars(select(ReviewSet))}
    for review in reviews.values():
        values = {
            "created_by": review.created_by,
            "candidate": review.candidate,
            "baseline": review.baseline,
            "items": review.item_count,
            "source_sha256": review.source_sha256,
            "items_sha256": items_sha256(items.get(review.id, [])),
        }
        yield Fact("review_sets", (tenants[review.tenant_id], review.id), values, f"review_sets row {review.id}")
    positions = {item.id: (item.review_set_id, item.position) for rows in items.values() for item in rows}
    for vote in session.scalars(select(ReviewVote)):
        review_id, position = positions[vote.item_id]
        values = {"verdict": vote.verdict, "comment": vote.comment, "corrected_answer": vote.corrected_answer}
        key = (tenants[reviews[review_id].tenant_id], review_id, position, vote.reviewer)
        yield Fact("review_votes", key, values, f"review_votes row {vote.id}")
