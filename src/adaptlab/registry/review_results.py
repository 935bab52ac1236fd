"""A review set's results from its votes: counts per verdict and reviewer, the candidate's win rate with its
interval, and the reviewers' agreement (statistics from adaptlab.stats.preference). Pure functions.

"Both bad" votes are counted and shown but left out of the win rate: they say neither answer is acceptable,
not which is better, and counting them as ties would pull every win rate towards ½."""

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from adaptlab.schemas.review import VERDICTS, ReviewResults, Verdict
from adaptlab.stats.preference import LOSS, TIE, WIN, reviewer_agreement, win_rate

VERDICT_SCORES: dict[Verdict, float] = {"candidate": WIN, "tie": TIE, "baseline": LOSS}


@dataclass(frozen=True)
class CastVote:
    item: int
    reviewer: str
    verdict: Verdict


def review_results(review_id: int, candidate: str, baseline: str, items: int, votes: Iterable[CastVote]) -> ReviewResults:
    votes = list(votes)
    scores: dict[int, list[float]] = {}
    labels: dict[int, dict[str, Verdict]] = {}
    for vote in votes:
        labels.setdefault(vote.item, {})[vote.reviewer] = vote.verdict
        if vote.verdict in VERDICT_SCORES:
            scores.setdefault(vote.item, []).append(VERDICT_SCORES[vote.verdict])
    rate = win_rate([scores[item] for item in sorted(scores)])
    agreement = reviewer_agreement(labels)
    counts = Counter(vote.verdict for vote in votes)
    return ReviewResults(
        review_id=review_id,
        candidate=candidate,
        baseline=baseline,
        items=items,
        votes=len(votes),
        verdicts={verdict: counts[verdict] for verdict in VERDICTS},
        judged_votes=rate.judgments if rate else 0,
        win_rate=rate.point if rate else None,
        win_rate_interval=rate.interval if rate else None,
        kappa=agreement.kappa if agreement else None,
        kappa_items=sum(len(by_reviewer) >= 2 for by_reviewer in labels.values()),
        reviewers=dict(sorted(Counter(vote.reviewer for vote in votes).items())),
    )
