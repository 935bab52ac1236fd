"""Live traffic in the registry: the completions the server answered (a few fields each, written in
batches by the server's background writer) and the feedback a tenant gives on its own completions.

These are telemetry, not governed state: they are written in plain write transactions, outside the
audit chain (which would serialise every request behind one lock); a refused rating is audited."""

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from sqlalchemy import select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from adaptlab.registry.access import Action, Principal, require
from adaptlab.registry.canary_figures import ArmSamples
from adaptlab.registry.entities import CompletionRecord, FeedbackRecord
from adaptlab.registry.errors import CompletionNotFoundError, FeedbackExistsError, InvalidFeedbackError
from adaptlab.registry.refs import parse_version_ref
from adaptlab.registry.store import RegistryStore, now
from adaptlab.registry.tables import Completion, Feedback, ModelVersion, RegisteredModel, Tenant

log = logging.getLogger(__name__)

THUMBS = (-1.0, 0.0, 1.0)
MAX_COMMENT_CHARS = 2000
MAX_COMPLETIONS_PER_ARM = 100_000
"""Newest completions per arm a canary's figures are computed from (bounds the memory of `canary status`)."""


def check_score(score: float) -> float:
    """−1, 0 or 1 (thumbs down, neutral, up), or a number in [0, 1]."""
    if score in THUMBS or 0.0 <= score <= 1.0:
        return float(score)
    raise InvalidFeedbackError(f"score {score!r}: give -1, 0 or 1, or a number in [0, 1]")


class CompletionLog(RegistryStore):
    def record_completions(self, principal: Principal, records: Sequence[CompletionRecord]) -> int:
        """Store a batch of the server's completion records in one transaction; returns how many were stored.
        A record naming an unknown tenant or version is skipped (and logged), never the whole batch."""
        require(principal, Action.manage, None)
        with self._plain_writing() as session:
            tenant_ids = dict(session.execute(select(Tenant.name, Tenant.id).where(Tenant.name.in_({r.tenant for r in records}))).all())
            version_ids = _version_ids(session, {r.version_ref for r in records if r.version_ref})
            rows = []
            for record in records:
                tenant_id, version_id = tenant_ids.get(record.tenant), version_ids.get(record.version_ref)
                if tenant_id is None or (record.version_ref and version_id is None):
                    log.warning(
                        "completion %s names an unknown tenant or version (%s, %s); not recorded", record.id, record.tenant, record.model
                    )
                    continue
                fields = record.model_dump(exclude={"tenant", "version_ref"})
                rows.append(Completion(**fields, tenant_id=tenant_id, version_id=version_id))
            session.add_all(rows)
        return len(rows)

    def add_feedback(self, principal: Principal, completion_id: str, score: float, comment: str | None = None) -> FeedbackRecord:
        """Rate one of the principal's tenant's completions, once. Another tenant's completion answers as an
        unknown one (and the attempt is audited as `feedback.denied`)."""
        require(principal, Action.read, principal.tenant)
        score = check_score(score)
        if comment is not None and len(comment) > MAX_COMMENT_CHARS:
            raise InvalidFeedbackError(f"comment is {len(comment)} characters; at most {MAX_COMMENT_CHARS} are kept")
        try:
            with self._plain_writing() as session:
                row = session.scalar(select(Completion).where(Completion.id == completion_id).options(joinedload(Completion.tenant)))
                owner = row.tenant.name if row is not None else None
                if row is not None and principal.tenant in (None, owner):
                    return self._rate(session, principal, row, score, comment)
        except IntegrityError as exc:  # a concurrent rating of the same completion won
            raise _already_rated(completion_id) from exc
        if owner is not None:
            with self._writing() as tx:
                reason = f"{principal.name} (tenant {principal.tenant!r}) may not rate a completion of tenant {owner!r}"
                tx.audit(principal.name, principal.tenant, "feedback.denied", f"completion:{completion_id[:80]}", after={"reason": reason})
        raise CompletionNotFoundError(
            f"no completion {completion_id[:80]!r} in your tenant; rate a completion with the `id` its response carried"
        )

    @staticmethod
    def _rate(session: Session, principal: Principal, row: Completion, score: float, comment: str | None) -> FeedbackRecord:
        if session.scalar(select(Feedback.id).where(Feedback.completion_id == row.id)) is not None:
            raise _already_rated(row.id)
        feedback = Feedback(completion_id=row.id, score=score, comment=comment, created_at=now(), created_by=principal.name)
        session.add(feedback)
        session.flush()
        return FeedbackRecord(
            completion_id=row.id, model=row.model, score=score, comment=comment, created_at=feedback.created_at, created_by=principal.name
        )

    @contextmanager
    def _plain_writing(self) -> Iterator[Session]:
        """A write transaction outside the audit chain (SQLite still takes its write lock at BEGIN)."""
        with Session(self._writes, expire_on_commit=False) as session, session.begin():
            yield session


def arm_samples(session: Session, version_id: int, alias: str, since: str, until: str | None) -> ArmSamples:
    """What the alias's traffic to one version recorded between `since` and `until` (None: now), newest
    `MAX_COMPLETIONS_PER_ARM` completions at most."""
    query = (
        select(Completion.latency_s, Completion.first_token_s, Completion.completion_tokens, Completion.error, Feedback.score)
        .outerjoin(Feedback, Feedback.completion_id == Completion.id)
        .where(Completion.version_id == version_id, Completion.via_alias == alias, Completion.created_at >= since)
        .order_by(Completion.created_at.desc())
        .limit(MAX_COMPLETIONS_PER_ARM)
    )
    if until is not None:
        query = query.where(Completion.created_at <= until)
    rows = session.execute(query).all()
    answered = [row for row in rows if not row.error]
    return ArmSamples(
        requests=len(rows),
        errors=len(rows) - len(answered),
        latencies_s=[row.latency_s for row in answered],
        first_token_s=[row.first_token_s for row in answered if row.first_token_s is not None],
        completion_tokens=[row.completion_tokens for row in answered],
        scores=[row.score for row in rows if row.score is not None],
    )


def _already_rated(completion_id: str) -> FeedbackExistsError:
    return FeedbackExistsError(f"completion {completion_id!r} has been rated already; a rating is never replaced")


def _version_ids(session: Session, refs: set[str]) -> dict[str, int]:
    """tenant/name@vN -> version row id, for those of `refs` that exist, in one query."""
    parsed = {ref: parse_version_ref(ref, None) for ref in refs}
    keys = {(version.model.tenant, version.model.name, version.version): ref for ref, version in parsed.items()}
    if not keys:
        return {}
    rows = session.execute(
        select(Tenant.name, RegisteredModel.name, ModelVersion.version, ModelVersion.id)
        .join(RegisteredModel, RegisteredModel.id == ModelVersion.model_id)
        .join(Tenant, Tenant.id == RegisteredModel.tenant_id)
        .where(tuple_(Tenant.name, RegisteredModel.name, ModelVersion.version).in_(list(keys)))
    )
    return {keys[(tenant, name, version)]: version_id for tenant, name, version, version_id in rows}
