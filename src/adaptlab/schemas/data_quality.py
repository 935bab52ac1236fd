"""The data quality summary: PII, duplicates, contamination and token lengths, as counts (never values).

Shared by `adaptlab data check` (its card), run.json's `data.quality` and the registry's lineage.
"""

from pydantic import BaseModel, Field

LISTED_LOCATIONS = 20  # duplicate and contamination pairs named in the summary; the counts cover all


class PiiSummary(BaseModel):
    mode: str = Field(description="off, report, redact or reject")
    findings_by_type: dict[str, int] = Field(default={}, description="EMAIL, PHONE, CREDIT_CARD, IBAN, ...")
    findings_by_field: dict[str, int] = Field(default={}, description="per source column (chat: messages[N].content)")
    rows_with_findings: int = 0
    unredacted_findings: int = Field(
        default=0, description="findings left in the data that training reads (report mode; redact and reject leave none)"
    )
    unchecked_sources: list[str] = Field(
        default=[], description="a combined adapter's sources whose data had no PII check; the counts leave them out"
    )


class DuplicateSummary(BaseModel):
    mode: str = Field(description="off, report (count only), exact (drop exact) or near (drop exact and near)")
    threshold: float = Field(description="Jaccard similarity of word 3-grams at which rows are near-duplicates")
    exact: int = Field(default=0, description="training rows equal to an earlier one (whitespace and case aside)")
    near: int = Field(default=0, description="training rows near-duplicating an earlier one")
    dropped: int = 0
    rate: float = Field(default=0.0, description="(exact + near) / checked_rows")
    checked_rows: int | None = Field(default=None, description="training rows checked (None in summaries written before it was kept)")
    unindexed_rows: int = Field(
        default=0, description="training rows past the index's memory bound: checked against the rows before, not added"
    )
    pairs: list[str] = Field(default=[], description="`later ≈ earlier` locations, the first few")
    unchecked_sources: list[str] = Field(
        default=[], description="a combined adapter's sources whose data had no duplicate check; the counts leave them out"
    )

    def warning(self) -> str | None:
        """What a report must say when the index's memory bound left rows out; None when it did not."""
        if not self.unindexed_rows:
            return None
        return (
            f"the duplicate index reached dedup_memory_mb: {self.unindexed_rows} training rows after that point were "
            "checked against the rows indexed before them but not added, so duplicates among those rows are not "
            "counted; raise --dedup-memory-mb to index every row"
        )


class ContaminationSummary(BaseModel):
    eval_rows: int = Field(default=0, description="held-out rows from eval files that were checked")
    exact: int = 0
    near: int = 0
    dropped: int = Field(default=0, description="contaminated rows removed from the held-out set (--decontaminate)")
    pairs: list[str] = Field(default=[], description="`held-out ≈ training` locations, the first few")

    @property
    def contaminated(self) -> int:
        return self.exact + self.near

    def warning(self) -> str | None:
        """What a comparison must say about its held-out figures; None when no held-out row is contaminated."""
        if not self.contaminated:
            return None
        what = (
            f"{self.contaminated} of {self.eval_rows} held-out rows equal ({self.exact}) or nearly equal ({self.near}) "
            "a training row"
        )
        if self.dropped:
            return f"{what}; --decontaminate dropped them from the held-out set ({self.eval_rows - self.dropped} left)"
        return f"{what}: they inflate the held-out figures; --decontaminate drops them from the held-out set"


class DataQuality(BaseModel):
    pii: PiiSummary
    duplicates: DuplicateSummary
    contamination: ContaminationSummary
    token_length_histogram: dict[str, int] = Field(default={}, description="training examples per token-length bucket")
