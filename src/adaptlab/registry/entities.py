"""What the registry returns: typed, read-only views of its rows (also the serving layer's response models);
each table row maps to its view with `to_entity()` (registry/tables.py)."""

from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, Field, computed_field

from adaptlab.registry.canary_assignment import in_candidate_arm
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
    kind: Literal["promote", "canary_start", "canary_promote", "canary_abort"] = Field(
        default="promote", description="a promotion, or a canary of `version` starting, promoted or aborted"
    )
    share_percent: float | None = Field(default=None, description="the canary's share of traffic (canary events)")


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


class CanaryRecord(BaseModel):
    alias: str
    stable_version: int
    candidate_version: int
    share_percent: float = Field(description="share of the alias's users sent to the candidate, 0-100")
    started_at: str
    started_by: str
    ended_at: str | None
    ended_by: str | None
    outcome: Literal["promoted", "aborted"] | None = Field(description="None while the canary runs")


class CanarySplit(BaseModel):
    """How the server splits an alias's traffic: the user's arm by a keyed hash (registry.canary_assignment)."""

    stable_ref: str
    candidate_ref: str
    share_percent: float
    assignment_key: str = Field(repr=False, exclude=True)

    def arm_ref(self, user: str) -> str:
        """The version (tenant/name@vN) that answers this end user, the same every time."""
        return self.candidate_ref if in_candidate_arm(self.assignment_key, user, self.share_percent) else self.stable_ref


class CompletionRecord(BaseModel):
    """What the server records of one answered request (registry.feedback): never text unless asked to."""

    id: str
    tenant: str
    version_ref: str | None = Field(description="tenant/name@vN that answered; None for the plain base model")
    model: str = Field(description="what answered: the version ref or the base model's name")
    via_alias: str | None = Field(description="the alias the request named, if any")
    created_at: str
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    first_token_s: float | None
    error: bool
    prompt_text: str | None = None
    completion_text: str | None = None


class FeedbackRecord(BaseModel):
    completion_id: str
    model: str = Field(description="the version (tenant/name@vN), or base model, that produced the completion")
    score: float
    comment: str | None
    created_at: str
    created_by: str


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


BlindVerdict = Literal["a", "b", "tie", "both_bad"]
"""A reviewer's verdict on what they saw: answer A better, answer B better, a tie, or both bad."""
BLIND_VERDICTS: tuple[BlindVerdict, ...] = get_args(BlindVerdict)
REVIEW_MAX_NEW_TOKENS = 128  # default greedy decoding limit of a review set's answers
REVIEW_BATCH_SIZE = 8  # default prompts answered together when a review set is created


class ReviewSetRecord(BaseModel):
    review_id: int
    tenant: str
    candidate: str = Field(description="what is judged: a version ref, or a method of the comparison")
    baseline: str = Field(description="what it is judged against")
    comparison_dir: str | None = Field(description="the comparison whose held-out rows were the prompts, if any")
    source: str = Field(description="where the prompts came from")
    source_sha256: str
    max_new_tokens: int
    items: int
    created_at: str
    created_by: str


class ReviewProgress(BaseModel):
    """A review set as one reviewer sees it: how far everyone, and they, have come."""

    review: ReviewSetRecord
    votes: int = Field(description="votes cast by everyone")
    my_votes: int = Field(description="items this principal has voted on")
    may_review: bool = Field(description="False for a principal without the review role or who authored a judged version")

    @computed_field
    @property
    def my_remaining(self) -> int:
        """Items waiting for this principal."""
        return self.review.items - self.my_votes if self.may_review else 0


class PromptMessage(BaseModel):
    role: str = Field(description="system, user or assistant; `text` for a plain text the model continues")
    content: str


class ReviewItemView(BaseModel):
    """One item as a reviewer sees it: blind, the two answers in this reviewer's order for this item."""

    review_id: int
    item: int = Field(description="1..N")
    prompt: list[PromptMessage]
    answer_a: str
    answer_b: str
    my_verdict: BlindVerdict | None = Field(None, description="this reviewer's vote on the item, in their A/B terms")


class ReviewQueue(BaseModel):
    review_id: int
    done: int = Field(description="items this reviewer has voted on")
    total: int
    items: list[ReviewItemView] = Field(description="the next items waiting for this reviewer, in item order")


class VoteReceipt(BaseModel):
    review_id: int
    item: int
    reviewer: str
    verdict: BlindVerdict = Field(description="as the reviewer gave it (which model wrote A is not disclosed)")
    at: str
    done: int
    total: int


class Correction(BaseModel):
    """A reviewer's corrected answer to an item's prompt: a training row."""

    item: int
    prompt: list[PromptMessage]
    corrected_answer: str
    reviewer: str
    comment: str | None
