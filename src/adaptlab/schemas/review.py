"""The results of a human review set (registry/reviews.py): a candidate judged blind against a baseline.
Shared by the registry, which computes them from the stored votes, and a comparison's report.json, which
carries the results of the review sets drawn from its held-out rows."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from adaptlab.stats.intervals import Interval

Verdict = Literal["candidate", "baseline", "tie", "both_bad"]
VERDICTS: tuple[Verdict, ...] = ("candidate", "baseline", "tie", "both_bad")
"""What a vote means once the blind A/B order is undone; the win rate counts the first three (ties half)."""


class ReviewResults(BaseModel):
    model_config = ConfigDict(extra="forbid")

    review_id: int
    candidate: str = Field(description="what was judged: a version ref, or a method of a comparison")
    baseline: str = Field(description="what it was judged against")
    items: int = Field(ge=0, description="prompts in the review set")
    votes: int = Field(ge=0, description="votes cast, every verdict")
    verdicts: dict[Verdict, int] = Field(description="votes per verdict")
    judged_votes: int = Field(ge=0, description="votes the win rate counts: every verdict but both_bad")
    win_rate: float | None = Field(None, ge=0, le=1, description="candidate better = 1, tie = ½, baseline better = 0, averaged over judged votes")
    win_rate_interval: Interval | None = Field(None, description="95 % bootstrap interval, items resampled with all their votes")
    kappa: float | None = Field(None, description="Cohen's kappa between reviewers on the items judged by two or more (see stats/preference.py)")
    kappa_items: int = Field(0, ge=0, description="items with two or more votes")
    reviewers: dict[str, int] = Field(description="votes per reviewer")
