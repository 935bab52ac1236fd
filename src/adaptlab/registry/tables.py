"""Database tables (SQLAlchemy 2 ORM), their relationships, and one `to_entity()` per row class that
the service returns. Schema changes go through an Alembic migration in migrations/versions/."""

import json
from typing import Any

from sqlalchemy import BigInteger, Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from adaptlab.registry.audit import ChainEntry
from adaptlab.registry.entities import (
    AliasEvent,
    ApprovalRecord,
    AuditEntry,
    CanaryRecord,
    ModelSummary,
    ReportAttachmentRecord,
    ReviewSetRecord,
    StoredFile,
    TokenRecord,
    VersionRecord,
)
from adaptlab.registry.gates import GatePolicy
from adaptlab.registry.lineage import Lineage


class Base(DeclarativeBase):
    pass


class Tenant(Base):
    __tablename__ = "tenants"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    created_at: Mapped[str] = mapped_column(String(40))
    created_by: Mapped[str] = mapped_column(String(200))


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200), doc="the principal's name, recorded as actor in the audit log")
    role: Mapped[str] = mapped_column(String(20))
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    created_at: Mapped[str] = mapped_column(String(40))
    created_by: Mapped[str] = mapped_column(String(200))
    revoked_at: Mapped[str | None] = mapped_column(String(40))

    tenant: Mapped[Tenant] = relationship()

    def to_entity(self) -> TokenRecord:
        return TokenRecord(id=self.id, name=self.name, role=self.role, created_at=self.created_at, revoked_at=self.revoked_at)


class RegisteredModel(Base):
    __tablename__ = "models"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    name: Mapped[str] = mapped_column(String(100))
    latest_version: Mapped[int] = mapped_column(Integer, default=0)
    gate_policy_json: Mapped[str | None] = mapped_column(Text, doc="GatePolicy as JSON; NULL means the default policy")
    created_at: Mapped[str] = mapped_column(String(40))
    created_by: Mapped[str] = mapped_column(String(200))

    tenant: Mapped[Tenant] = relationship()
    alias_assignments: Mapped[list["AliasAssignment"]] = relationship(order_by="AliasAssignment.id", viewonly=True)
    canaries: Mapped[list["AliasCanary"]] = relationship(order_by="AliasCanary.id", viewonly=True)

    @property
    def gate_policy(self) -> GatePolicy:
        return GatePolicy.model_validate_json(self.gate_policy_json) if self.gate_policy_json else GatePolicy()

    def current_aliases(self) -> dict[str, "AliasAssignment"]:
        """alias -> the assignment it follows now: its newest one not rolled back."""
        return {row.alias: row for row in self.alias_assignments if row.rolled_back_at is None}

    def running_canary(self, alias: str) -> "AliasCanary | None":
        """The canary splitting `alias`'s traffic now, if one is."""
        return next((row for row in self.canaries if row.alias == alias and row.ended_at is None), None)

    def to_entity(self) -> ModelSummary:
        return ModelSummary(
            tenant=self.tenant.name,
            name=self.name,
            latest_version=self.latest_version,
            aliases={alias: row.version.version for alias, row in self.current_aliases().items()},
            created_at=self.created_at,
            created_by=self.created_by,
        )


class ModelVersion(Base):
    __tablename__ = "versions"
    __table_args__ = (UniqueConstraint("model_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"))
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[str] = mapped_column(String(40))
    created_by: Mapped[str] = mapped_column(String(200))
    run_id: Mapped[str] = mapped_column(String(200))
    method: Mapped[str] = mapped_column(String(40))
    artifact_kind: Mapped[str] = mapped_column(String(40))
    base_model_id: Mapped[str] = mapped_column(String(300))
    base_weights_sha256: Mapped[str] = mapped_column(String(64))
    license: Mapped[str | None] = mapped_column(String(100))
    metrics_json: Mapped[str] = mapped_column(Text, doc="gate metrics: name -> number")
    lineage_json: Mapped[str] = mapped_column(Text, doc="Lineage as JSON, captured from the run folder")
    weights_sha256: Mapped[str | None] = mapped_column(
        String(64), index=True, doc="a whole model's own canonical weights hash (Lineage.weights_sha256): finds it as a base version"
    )

    model: Mapped[RegisteredModel] = relationship()
    files: Mapped[list["VersionFile"]] = relationship(order_by="VersionFile.path")
    approvals: Mapped[list["Approval"]] = relationship(order_by="Approval.id")

    @property
    def ref(self) -> str:
        return f"{self.model.tenant.name}/{self.model.name}@v{self.version}"

    @property
    def metrics(self) -> dict[str, float]:
        return json.loads(self.metrics_json)

    def to_entity(self) -> VersionRecord:
        return VersionRecord(
            tenant=self.model.tenant.name,
            name=self.model.name,
            version=self.version,
            created_at=self.created_at,
            created_by=self.created_by,
            run_id=self.run_id,
            method=self.method,
            artifact_kind=self.artifact_kind,
            base_model_id=self.base_model_id,
            base_weights_sha256=self.base_weights_sha256,
            license=self.license,
            metrics=self.metrics,
            files=[row.to_entity() for row in self.files],
            approvals=[row.to_entity() for row in self.approvals],
            aliases=sorted(alias for alias, row in self.model.current_aliases().items() if row.version_id == self.id),
            lineage=Lineage.model_validate_json(self.lineage_json),
        )


class VersionFile(Base):
    __tablename__ = "version_files"

    version_id: Mapped[int] = mapped_column(ForeignKey("versions.id"), primary_key=True)
    path: Mapped[str] = mapped_column(String(300), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)

    def to_entity(self) -> StoredFile:
        return StoredFile(path=self.path, sha256=self.sha256, size_bytes=self.size_bytes)


class Approval(Base):
    __tablename__ = "approvals"
    __table_args__ = (UniqueConstraint("version_id", "approver"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("versions.id"))
    approver: Mapped[str] = mapped_column(String(200))
    note: Mapped[str] = mapped_column(Text)
    created_at: Mapped[str] = mapped_column(String(40))

    def to_entity(self) -> ApprovalRecord:
        return ApprovalRecord(approver=self.approver, note=self.note, at=self.created_at)


class AliasAssignment(Base):
    """One row per promotion. The alias points at its newest row not rolled back; rollback marks
    that row and the alias falls back to the row before it, so history is never rewritten."""

    __tablename__ = "alias_history"

    id: Mapped[int] = mapped_column(primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"), index=True)
    alias: Mapped[str] = mapped_column(String(64))
    version_id: Mapped[int] = mapped_column(ForeignKey("versions.id"))
    assigned_at: Mapped[str] = mapped_column(String(40))
    assigned_by: Mapped[str] = mapped_column(String(200))
    rolled_back_at: Mapped[str | None] = mapped_column(String(40))
    rolled_back_by: Mapped[str | None] = mapped_column(String(200))

    version: Mapped[ModelVersion] = relationship()

    def to_entity(self) -> AliasEvent:
        return AliasEvent(
            alias=self.alias,
            version=self.version.version,
            assigned_at=self.assigned_at,
            assigned_by=self.assigned_by,
            rolled_back_at=self.rolled_back_at,
            rolled_back_by=self.rolled_back_by,
        )


class ReportAttachment(Base):
    """A comparison's report files stored with a version (`registry attach-report`); the files are blobs by hash."""

    __tablename__ = "report_attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("versions.id"), index=True)
    source: Mapped[str] = mapped_column(String(1000), doc="the comparison folder the files came from")
    attached_at: Mapped[str] = mapped_column(String(40))
    attached_by: Mapped[str] = mapped_column(String(200))

    files: Mapped[list["ReportFile"]] = relationship(order_by="ReportFile.path")

    def to_entity(self) -> ReportAttachmentRecord:
        return ReportAttachmentRecord(
            id=self.id,
            source=self.source,
            attached_at=self.attached_at,
            attached_by=self.attached_by,
            files=[row.to_entity() for row in self.files],
        )


class ReportFile(Base):
    __tablename__ = "report_files"

    attachment_id: Mapped[int] = mapped_column(ForeignKey("report_attachments.id"), primary_key=True)
    path: Mapped[str] = mapped_column(String(300), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)

    def to_entity(self) -> StoredFile:
        return StoredFile(path=self.path, sha256=self.sha256, size_bytes=self.size_bytes)


class ReviewSet(Base):
    """A candidate judged blind against a baseline on stored prompts and answers (registry/reviews.py). The
    candidate and baseline are versions, or (both NULL) two methods of the comparison in `comparison_dir`."""

    __tablename__ = "review_sets"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    candidate_version_id: Mapped[int | None] = mapped_column(ForeignKey("versions.id"), index=True)
    baseline_version_id: Mapped[int | None] = mapped_column(ForeignKey("versions.id"))
    candidate: Mapped[str] = mapped_column(String(300), doc="version ref, or the comparison's method")
    baseline: Mapped[str] = mapped_column(String(300))
    comparison_dir: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(Text, doc="where the prompts came from")
    source_sha256: Mapped[str] = mapped_column(String(64))
    max_new_tokens: Mapped[int] = mapped_column(Integer)
    item_count: Mapped[int] = mapped_column(Integer)
    blind_salt: Mapped[str] = mapped_column(String(64), doc="keys each reviewer's A/B order; never leaves the service")
    created_at: Mapped[str] = mapped_column(String(40))
    created_by: Mapped[str] = mapped_column(String(200))

    tenant: Mapped[Tenant] = relationship()
    candidate_version: Mapped[ModelVersion | None] = relationship(foreign_keys=[candidate_version_id])
    baseline_version: Mapped[ModelVersion | None] = relationship(foreign_keys=[baseline_version_id])

    def to_entity(self) -> ReviewSetRecord:
        return ReviewSetRecord(
            review_id=self.id,
            tenant=self.tenant.name,
            candidate=self.candidate,
            baseline=self.baseline,
            comparison_dir=self.comparison_dir,
            source=self.source,
            source_sha256=self.source_sha256,
            max_new_tokens=self.max_new_tokens,
            items=self.item_count,
            created_at=self.created_at,
            created_by=self.created_by,
        )


class ReviewItem(Base):
    __tablename__ = "review_items"
    __table_args__ = (UniqueConstraint("review_set_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    review_set_id: Mapped[int] = mapped_column(ForeignKey("review_sets.id"))
    position: Mapped[int] = mapped_column(Integer, doc="1..N, the item number reviewers see")
    prompt_json: Mapped[str] = mapped_column(Text, doc='{"text": ...} or {"messages": [{"role", "content"}, ...]}')
    reference: Mapped[str | None] = mapped_column(Text, doc="the prompt row's own answer, if it had one")
    candidate_answer: Mapped[str] = mapped_column(Text)
    baseline_answer: Mapped[str] = mapped_column(Text)


class ReviewVote(Base):
    """One reviewer's verdict on one item, stored unblinded (candidate/baseline/tie/both_bad)."""

    __tablename__ = "review_votes"
    __table_args__ = (UniqueConstraint("item_id", "reviewer"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("review_items.id"))
    reviewer: Mapped[str] = mapped_column(String(200))
    verdict: Mapped[str] = mapped_column(String(20))
    comment: Mapped[str | None] = mapped_column(Text)
    corrected_answer: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[str] = mapped_column(String(40))

    item: Mapped[ReviewItem] = relationship()
class AliasCanary(Base):
    """A canary on an alias: `share_percent` of its traffic goes to the candidate, the rest to the stable
    version the alias points at. Ends by promotion (the alias moves to the candidate) or abort; a user's
    arm comes from a keyed hash of their id with `assignment_key`, new for each canary."""

    __tablename__ = "alias_canaries"

    id: Mapped[int] = mapped_column(primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"), index=True)
    alias: Mapped[str] = mapped_column(String(64))
    stable_version_id: Mapped[int] = mapped_column(ForeignKey("versions.id"))
    candidate_version_id: Mapped[int] = mapped_column(ForeignKey("versions.id"))
    share_percent: Mapped[float] = mapped_column(Float)
    assignment_key: Mapped[str] = mapped_column(String(64), doc="HMAC key (hex) of the user -> arm assignment; never audited")
    started_at: Mapped[str] = mapped_column(String(40))
    started_by: Mapped[str] = mapped_column(String(200))
    ended_at: Mapped[str | None] = mapped_column(String(40))
    ended_by: Mapped[str | None] = mapped_column(String(200))
    outcome: Mapped[str | None] = mapped_column(String(20), doc="promoted or aborted; NULL while running")

    stable: Mapped[ModelVersion] = relationship(foreign_keys=[stable_version_id])
    candidate: Mapped[ModelVersion] = relationship(foreign_keys=[candidate_version_id])

    def to_entity(self) -> CanaryRecord:
        return CanaryRecord(
            alias=self.alias,
            stable_version=self.stable.version,
            candidate_version=self.candidate.version,
            share_percent=self.share_percent,
            started_at=self.started_at,
            started_by=self.started_by,
            ended_at=self.ended_at,
            ended_by=self.ended_by,
            outcome=self.outcome,
        )


class Completion(Base):
    """One answered request, as the server records it: who (tenant), which version, when and how it went.
    No prompt or completion text unless the operator turned `record_text` on."""

    __tablename__ = "completions"
    __table_args__ = (Index("ix_completions_version_alias_created", "version_id", "via_alias", "created_at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True, doc="the completion id the server returned (cmpl-..., chatcmpl-...)")
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    version_id: Mapped[int | None] = mapped_column(ForeignKey("versions.id"), doc="NULL when the plain base model answered")
    model: Mapped[str] = mapped_column(String(300), doc="what answered: tenant/name@vN or the base model's name")
    via_alias: Mapped[str | None] = mapped_column(String(64), doc="the alias the request named, if it named one")
    created_at: Mapped[str] = mapped_column(String(40))
    prompt_tokens: Mapped[int] = mapped_column(Integer)
    completion_tokens: Mapped[int] = mapped_column(Integer)
    latency_s: Mapped[float] = mapped_column(Float, doc="HTTP arrival to the last token (or the failure)")
    first_token_s: Mapped[float | None] = mapped_column(Float, doc="HTTP arrival to the first token; NULL if none came")
    error: Mapped[bool] = mapped_column(Boolean, doc="the server failed to answer (adapter load or decoding failure)")
    prompt_text: Mapped[str | None] = mapped_column(Text)
    completion_text: Mapped[str | None] = mapped_column(Text)

    tenant: Mapped[Tenant] = relationship()


class Feedback(Base):
    """A rating of one completion by its tenant; at most one per completion."""

    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(primary_key=True)
    completion_id: Mapped[str] = mapped_column(ForeignKey("completions.id"), unique=True)
    score: Mapped[float] = mapped_column(Float, doc="-1, 0 or 1, or a number in [0, 1]")
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[str] = mapped_column(String(40))
    created_by: Mapped[str] = mapped_column(String(200))

    completion: Mapped[Completion] = relationship()


class AuditRow(Base):
    """Append-only; see adaptlab.registry.audit for the hash chain. `occurrences` and `last_at` count
    repeats of an identical denial (adaptlab.registry.denials) and are outside the hash."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_actor_action", "actor", "action"),)

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(200))
    tenant: Mapped[str | None] = mapped_column(String(100), index=True)
    action: Mapped[str] = mapped_column(String(60))
    target: Mapped[str] = mapped_column(String(300))
    before_json: Mapped[str] = mapped_column(Text)
    after_json: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    occurrences: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    last_at: Mapped[str | None] = mapped_column(String(40))

    def to_entity(self) -> AuditEntry:
        return AuditEntry(**self._content(), hash=self.hash, occurrences=self.occurrences, last_at=self.last_at)

    def to_chain_entry(self) -> ChainEntry:
        return ChainEntry(**self._content(), prev_hash=self.prev_hash, hash=self.hash)

    def _content(self) -> dict[str, Any]:
        return dict(
            seq=self.seq,
            at=self.at,
            actor=self.actor,
            tenant=self.tenant,
            action=self.action,
            target=self.target,
            before=_loads(self.before_json),
            after=_loads(self.after_json),
        )


class AuditHead(Base):
    """A single row (id 1): the last appended entry. Every write transaction locks it first, which
    serialises writers on PostgreSQL and keeps the chain linear."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))


def _loads(text: str) -> Any:
    """Stored JSON; text that no longer parses (tampering) is returned as-is so the hash check flags it."""
    try:
        return json.loads(text)
    except ValueError:
        return text
