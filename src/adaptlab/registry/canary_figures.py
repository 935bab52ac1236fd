"""Per-arm figures of a canary and the decision they support. Pure functions over the arms' recorded
completions and ratings; the intervals and tests come from adaptlab.stats.two_groups (which names the
test used per figure), the traffic needed from adaptlab.stats.sample_size.

Several figures are tested at once, so the decision counts a difference only below alpha divided by
the number of tests made (Bonferroni); each test's p-value is shown as computed."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field

from adaptlab.registry.entities import CanaryRecord
from adaptlab.stats.intervals import Interval
from adaptlab.stats.paired_tests import ALPHA
from adaptlab.stats.sample_size import per_group_to_resolve_rates
from adaptlab.stats.two_groups import (
    GroupTest,
    fisher_exact_test,
    mann_whitney_test,
    mean_interval,
    proportion_interval,
    quantile_interval,
    welch_t_test,
)

DEFAULT_GAP = 0.05
"""The smallest difference in positive-feedback rate worth detecting (5 points): it sets the traffic needed."""
POSITIVE_ABOVE = 0.5
"""A rating counts as positive above this: 1 on the −1/0/1 scale, more than half on the [0, 1] one."""
UNKNOWN_RATE = 0.5
"""The stable arm's positive rate assumed before it has ratings: the rate that needs the most traffic."""

Direction = Literal["higher", "lower"]
Verdict = Literal["worse", "better", "higher", "lower", "indistinguishable", "too_few"]
Decision = Literal["abort", "wait", "promote"]


@dataclass(frozen=True)
class ArmSamples:
    """What was recorded for one arm: per answered completion (errors excluded) and per rating."""

    requests: int
    errors: int
    latencies_s: Sequence[float] = ()
    first_token_s: Sequence[float] = ()
    completion_tokens: Sequence[float] = ()
    scores: Sequence[float] = field(default=())

    @property
    def positives(self) -> int:
        return int(np.sum(np.asarray(self.scores, dtype=float) > POSITIVE_ABOVE))


class Figure(BaseModel):
    value: float | None = Field(description="None without data")
    interval: Interval | None = Field(description="95 % interval; None while there is too little data for one")


class ArmFigures(BaseModel):
    version: str = Field(description="tenant/name@vN")
    requests: int
    errors: int
    error_rate: Figure = Field(description="errors / requests, Wilson interval")
    latency_p50_s: Figure = Field(description="median latency of answered requests, order-statistic interval")
    latency_p95_s: Figure
    first_token_p50_s: Figure = Field(description="median time to first token, order-statistic interval")
    output_tokens_mean: Figure = Field(description="mean output tokens per answer, t interval")
    rated: int = Field(description="completions with feedback")
    feedback_mean: Figure = Field(description="mean score, t interval")
    positive_rate: Figure = Field(description=f"share of ratings above {POSITIVE_ABOVE}, Wilson interval")


class Comparison(BaseModel):
    figure: str
    test: GroupTest | None = Field(description="candidate − stable; None while an arm has too little data")
    verdict: Verdict


class CanaryReport(BaseModel):
    stable: ArmFigures
    candidate: ArmFigures
    comparisons: list[Comparison]
    gap: float = Field(description="positive-rate gap the traffic should resolve")
    rated_needed_per_arm: int = Field(description="ratings per arm that resolve `gap` (power 0.8, alpha 0.05)")
    enough_traffic: bool
    decision: Decision
    reason: str


class CanaryStatus(BaseModel):
    canary: CanaryRecord
    report: CanaryReport


@dataclass(frozen=True)
class _Compared:
    figure: str
    label: str  # in the decision's words
    worse_when: Direction | None  # None: a difference is shown, not judged
    test: Callable[[ArmSamples, ArmSamples, float], GroupTest | None]


_COMPARED = (
    _Compared(
        "error_rate", "error rate", "higher", lambda a, b, alpha: fisher_exact_test(a.errors, a.requests, b.errors, b.requests, alpha)
    ),
    _Compared("latency_s", "latency", "higher", lambda a, b, alpha: mann_whitney_test(a.latencies_s, b.latencies_s, alpha)),
    _Compared(
        "first_token_s", "time to first token", "higher", lambda a, b, alpha: mann_whitney_test(a.first_token_s, b.first_token_s, alpha)
    ),
    _Compared(
        "output_tokens", "output tokens", None, lambda a, b, alpha: mann_whitney_test(a.completion_tokens, b.completion_tokens, alpha)
    ),
    _Compared("feedback_mean", "feedback score", "lower", lambda a, b, alpha: welch_t_test(a.scores, b.scores, alpha)),
    _Compared(
        "positive_rate",
        "positive feedback",
        "lower",
        lambda a, b, alpha: fisher_exact_test(a.positives, len(a.scores), b.positives, len(b.scores), alpha),
    ),
)


def arm_figures(version: str, samples: ArmSamples) -> ArmFigures:
    latencies, first_tokens = samples.latencies_s, samples.first_token_s
    return ArmFigures(
        version=version,
        requests=samples.requests,
        errors=samples.errors,
        error_rate=_rate(samples.errors, samples.requests),
        latency_p50_s=_quantile(latencies, 0.5),
        latency_p95_s=_quantile(latencies, 0.95),
        first_token_p50_s=_quantile(first_tokens, 0.5),
        output_tokens_mean=_mean(samples.completion_tokens),
        rated=len(samples.scores),
        feedback_mean=_mean(samples.scores),
        positive_rate=_rate(samples.positives, len(samples.scores)),
    )


def compare_arms(stable: ArmSamples, candidate: ArmSamples, alpha: float = ALPHA) -> list[Comparison]:
    """Each figure's two-sided test, judged at alpha / (tests made)."""
    tests = [(compared, compared.test(stable, candidate, alpha)) for compared in _COMPARED]
    made = sum(test is not None for _, test in tests)
    adjusted = alpha / max(made, 1)
    return [
        Comparison(
            figure=compared.figure,
            test=None if test is None else test.model_copy(update={"alpha": adjusted}),
            verdict=_verdict(test, adjusted, compared.worse_when),
        )
        for compared, test in tests
    ]


def canary_report(
    stable_version: str, candidate_version: str, stable: ArmSamples, candidate: ArmSamples, gap: float = DEFAULT_GAP
) -> CanaryReport:
    """The figures of both arms, their comparison, and whether to abort, wait for traffic, or promote."""
    stable_figures, candidate_figures = arm_figures(stable_version, stable), arm_figures(candidate_version, candidate)
    comparisons = compare_arms(stable, candidate)
    reference_rate = stable_figures.positive_rate.value if stable.scores else UNKNOWN_RATE
    needed = per_group_to_resolve_rates(reference_rate, gap)
    enough = min(len(stable.scores), len(candidate.scores)) >= needed
    labels = {compared.figure: compared.label for compared in _COMPARED}
    worse = [labels[c.figure] for c in comparisons if c.verdict == "worse"]
    better = [labels[c.figure] for c in comparisons if c.verdict == "better"]
    if worse:
        decision, reason = "abort", f"the candidate is significantly worse on {', '.join(worse)}"
    elif not enough:
        decision, reason = (
            "wait",
            (
                f"not enough traffic to decide yet: telling a {gap:.0%} gap in positive feedback apart needs {needed} rated "
                f"completions per arm; stable has {len(stable.scores)}, candidate {len(candidate.scores)}"
            ),
        )
    elif better:
        decision, reason = "promote", f"the candidate is significantly better on {', '.join(better)} and worse on nothing"
    else:
        decision, reason = "promote", f"no significant difference, with enough ratings to see a {gap:.0%} gap in positive feedback"
    return CanaryReport(
        stable=stable_figures,
        candidate=candidate_figures,
        comparisons=comparisons,
        gap=gap,
        rated_needed_per_arm=needed,
        enough_traffic=enough,
        decision=decision,
        reason=reason,
    )


def _verdict(test: GroupTest | None, alpha: float, worse_when: Direction | None) -> Verdict:
    if test is None:
        return "too_few"
    if test.p_value >= alpha or test.difference == 0:
        return "indistinguishable"
    direction: Direction = "higher" if test.difference > 0 else "lower"
    if worse_when is None:
        return direction
    return "worse" if direction == worse_when else "better"


def _rate(successes: int, trials: int) -> Figure:
    return Figure(value=successes / trials if trials else None, interval=proportion_interval(successes, trials))


def _quantile(values: Sequence[float], quantile: float) -> Figure:
    if len(values) == 0:
        return Figure(value=None, interval=None)
    return Figure(value=float(np.quantile(np.asarray(values, dtype=float), quantile)), interval=quantile_interval(values, quantile))


def _mean(values: Sequence[float]) -> Figure:
    return Figure(value=float(np.mean(values)) if len(values) else None, interval=mean_interval(values))
