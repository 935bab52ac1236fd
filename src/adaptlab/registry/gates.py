"""Promotion gates, one policy per model name: metric thresholds, approvals and human review. Pure functions."""

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from adaptlab.schemas.review import ReviewResults

# gate metrics from run.json data.quality (registry.lineage.data_quality_metrics)
PII_GATE_METRIC = "pii_unredacted_findings"
DUPLICATE_GATE_METRIC = "duplicate_rate"


class GatePolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min_metrics: dict[str, float] = Field(default={}, description="metric name -> lowest allowed value, e.g. relative_score: 95")
    max_metrics: dict[str, float] = Field(default={}, description="metric name -> highest allowed value, e.g. forgetting_percent: 5")
    required_approvals: int = Field(default=1, ge=0, description="approvals a version needs before promotion")
    approvers_distinct_from_registrant: bool = Field(
        default=True, description="approvals by the person who registered the version do not count (and are refused)"
    )
    aliases: list[str] = Field(default=[], description="aliases the gates guard; empty means every alias")
    min_review_win_rate: float | None = Field(
        default=None, ge=0, le=1, description="the version's win rate in its newest review set (ties count half) must reach this"
    )
    min_reviews: int = Field(default=0, ge=0, description="votes the version's newest review set must have")

    def guards(self, alias: str) -> bool:
        return not self.aliases or alias in self.aliases


@dataclass(frozen=True)
class GateCheck:
    """One gate of a policy judged for one version: what it requires, and each way it fails (none: it passes)."""

    gate: str
    requirement: str
    failures: tuple[str, ...] = ()

    @property
    def passes(self) -> bool:
        return not self.failures


def gate_checks(
    policy: GatePolicy, metrics: dict[str, float], approvers: list[str], registrant: str, review: ReviewResults | None = None,
    missing_reasons: dict[str, str] | None = None,
) -> list[GateCheck]:
    """Every gate of `policy`, passing or not, in the order `failed_gates` names them. `review`: the results of the
    newest review set with the version as candidate (None: there is none); `missing_reasons` says, by metric, why a
    number is missing (default: it is not in evaluation.json)."""
    reasons = missing_reasons or {}
    checks = []
    for name, lowest in sorted(policy.min_metrics.items()):
        checks.append(_threshold_check(name, metrics.get(name), lowest, "≥", lambda value, bound: value >= bound, reasons.get(name)))
    for name, highest in sorted(policy.max_metrics.items()):
        checks.append(_threshold_check(name, metrics.get(name), highest, "≤", lambda value, bound: value <= bound, reasons.get(name)))
    counted = counted_approvers(policy, approvers, registrant)
    distinct = " from someone other than the registrant" if policy.approvers_distinct_from_registrant else ""
    short = len(counted) < policy.required_approvals
    failures = (f"approvals: {len(counted)} of {policy.required_approvals} required{distinct}",) if short else ()
    checks.append(GateCheck("approvals", f"{policy.required_approvals}{distinct}", failures))
    if policy.min_review_win_rate is not None or policy.min_reviews:
        win_rate = f"win rate ≥ {policy.min_review_win_rate:g}, " if policy.min_review_win_rate is not None else ""
        checks.append(GateCheck("review", f"{win_rate}≥ {policy.min_reviews} votes", tuple(review_failures(policy, review))))
    return checks


def failed_gates(
    policy: GatePolicy, metrics: dict[str, float], approvers: list[str], registrant: str, review: ReviewResults | None = None,
    missing_reasons: dict[str, str] | None = None,
) -> list[str]:
    """Each failed gate as a sentence; empty when the version may be promoted."""
    checks = gate_checks(policy, metrics, approvers, registrant, review, missing_reasons)
    return [failure for check in checks for failure in check.failures]


def review_failures(policy: GatePolicy, review: ReviewResults | None) -> list[str]:
    """The review gate: enough votes, and a win rate (point estimate) at least the minimum."""
    if policy.min_review_win_rate is None and not policy.min_reviews:
        return []
    if review is None:
        return ["review: no review set judges this version; create one with `adaptlab review create VERSION --against BASELINE`"]
    failures = []
    if review.votes < policy.min_reviews:
        failures.append(f"review #{review.review_id}: {review.votes} of {policy.min_reviews} votes required")
    lowest = policy.min_review_win_rate
    if lowest is not None and review.win_rate is None:
        failures.append(f"review #{review.review_id}: no judged votes yet (win rate needs ≥ {lowest:g})")
    elif lowest is not None and review.win_rate < lowest:
        interval = review.win_rate_interval
        shown = f" (95 % CI {interval.low:.2f}–{interval.high:.2f})" if interval else ""
        failures.append(
            f"review #{review.review_id}: win rate {review.win_rate:.2f}{shown} against {review.baseline} over "
            f"{review.judged_votes} judged votes (needs ≥ {lowest:g})"
        )
    return failures


def data_gate_bounds(require_pii_clean: bool, max_duplicate_rate: float | None) -> dict[str, float]:
    """The data-check gates (`--require-pii-clean`, `--max-duplicate-rate`) as the metric bounds they are."""
    bounds = {PII_GATE_METRIC: 0.0} if require_pii_clean else {}
    return bounds | ({DUPLICATE_GATE_METRIC: max_duplicate_rate} if max_duplicate_rate is not None else {})


def counted_approvers(policy: GatePolicy, approvers: list[str], registrant: str) -> list[str]:
    distinct = sorted(set(approvers))
    if policy.approvers_distinct_from_registrant:
        return [name for name in distinct if name != registrant]
    return distinct


def _threshold_check(name: str, value: float | None, bound: float, sign: str, holds, missing_reason: str | None) -> GateCheck:
    requirement = f"{sign} {bound:g}"
    if value is None:
        reason = missing_reason or "add it to evaluation.json beside run.json and register again"
        failures = (f"metric {name}: missing (needs {requirement}); {reason}",)
    else:
        failures = () if holds(value, bound) else (f"metric {name}: {value:g} (needs {requirement})",)
    return GateCheck(f"metric {name}", requirement, failures)
