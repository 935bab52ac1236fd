"""What the registry returns: typed, read-only views of its rows (also the serving layer's response models);
each table row maps to its view with `to_entity()` (registry/tables.py)."""

from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from adaptlab.registry.lineage import Lineage


class StoredFile(BaseModel):
    path: str = Field(description="path inside the artifact folder")
    sha256: str
    size_bytes: int


class ApprovalRecord(BaseModel):
    approver: str
    note: str
    at: str


class VersionRecord(BaseModel):
    tenant: str
    name: str
    version: int
    created_at: str
    created_by: str
    run_id: str
    method: str
    artifact_kind: str = Field(description="peft_adapter or hf_model")
    base_model_id: str
    base_weights_sha256: str
    license: str | None
    metrics: dict[str, float] = Field(description="gate metrics: run.json metrics plus evaluation.json")
    files: list[StoredFile]
    approvals: list[ApprovalRecord]
    aliases: list[str] = Field(description="aliases that point at this version now")
    lineage: Lineage
    local_path: Path | None = Field(default=None, description="verified local copy of the artifact (set by Registry.checkout)")

    @property
    def ref(self) -> str:
        return f"{self.tenant}/{self.name}@v{self.version}"

    @property
    def is_adapter(self) -> bool:
        """A PEFT adapter that loads on a shared base (as opposed to a whole fine-tuned model)."""
        return self.artifact_kind == "peft_adapter"


class ModelSummary(BaseModel):
    tenant: str
    name: str
    latest_version: int
    aliases: dict[str, int] = Field(description="alias -> version it points at")
    created_at: str
    created_by: str


class AliasEvent(BaseModel):
    alias: str
    version: int
    assigned_at: str
    assigned_by: str
    rolled_back_at: str | None
    rolled_back_by: str | None


class ReportAttachmentRecord(BaseModel):
    """A comparison report stored with a version: its files, each a blob checked against its hash when read."""

    id: int
    source: str = Field(description="the comparison folder the files came from")
    attached_at: str
    attached_by: str
    files: list[StoredFile]


class AliasChange(BaseModel):
    tenant: str
    name: str
    alias: str
    from_version: int | None
    to_version: int
    changed: bool = Field(description="False when the alias already pointed at the version")


class TokenRecord(BaseModel):
    """An API token as listed: never the token itself."""

    id: int
    name: str
    role: str
    created_at: str
    revoked_at: str | None


class AuditEntry(BaseModel):
    seq: int
    at: str
    actor: str
    tenant: str | None
    action: str
    target: str
    before: Any
    after: Any
    hash: str
    occurrences: int = Field(default=1, description="repeats of an identical denial within the window (outside the hash chain)")
    last_at: str | None = Field(default=None, description="when the last repeat happened")


class AuditPage(BaseModel):
    """One page of the audit log, newest first, and how many entries match the filter in all."""

    entries: list[AuditEntry]
    total: int
    offset: int
    limit: int


class AuditVerification(BaseModel):
    ok: bool
    entries_checked: int
    first_bad_seq: int | None = None
    problem: str | None = None
    unaccounted: list[str] = Field(
        default_factory=list, description="table rows the replayed chain does not account for, differs from, or lacks"
    )


class GcReport(BaseModel):
    blobs_deleted: list[str]
    bytes_freed: int = Field(description="bytes of the unreferenced blobs deleted")
    uploads_deleted: int
    checkout_leftovers_deleted: int
    temporary_bytes_freed: int = Field(description="bytes of the stale uploads and checkout leftovers deleted")
