"""What `adaptlab registry canary` prints: pure functions of a canary's record and status."""

from rich.table import Table

from adaptlab.registry.canary_figures import CanaryStatus, Comparison, Figure
from adaptlab.registry.entities import CanaryRecord

# (label, the ArmFigures field, the comparison that tests it, how a value is shown)
_ROWS = (
    ("requests", "requests", None, "{:.0f}"),
    ("errors", "errors", None, "{:.0f}"),
    ("error rate", "error_rate", "error_rate", "{:.2%}"),
    ("latency p50 (s)", "latency_p50_s", "latency_s", "{:.3f}"),
    ("latency p95 (s)", "latency_p95_s", None, "{:.3f}"),
    ("time to first token p50 (s)", "first_token_p50_s", "first_token_s", "{:.3f}"),
    ("output tokens (mean)", "output_tokens_mean", "output_tokens", "{:.1f}"),
    ("rated completions", "rated", None, "{:.0f}"),
    ("feedback score (mean)", "feedback_mean", "feedback_mean", "{:.3f}"),
    ("positive feedback", "positive_rate", "positive_rate", "{:.1%}"),
)


def canary_line(ref: str, record: CanaryRecord) -> str:
    return (
        f"canary on @{record.alias}: [bold]{record.share_percent:g} %[/] of its users get v{record.candidate_version} ({ref}), "
        f"the rest v{record.stable_version}; watch with `adaptlab registry canary status`"
    )


def status_table(status: CanaryStatus) -> Table:
    canary, report = status.canary, status.report
    state = "running" if canary.outcome is None else f"{canary.outcome} {canary.ended_at[:19]} by {canary.ended_by}"
    table = Table(
        "figure",
        f"stable {report.stable.version}",
        f"candidate {report.candidate.version}",
        "difference (test, p)",
        "verdict",
        title=f"canary on @{canary.alias}: {canary.share_percent:g} % to the candidate since {canary.started_at[:19]} ({state}); 95 % intervals",
    )
    comparisons = {comparison.figure: comparison for comparison in report.comparisons}
    for label, field, compared, shown in _ROWS:
        comparison = comparisons.get(compared) if compared else None
        table.add_row(
            label,
            _cell(getattr(report.stable, field), shown),
            _cell(getattr(report.candidate, field), shown),
            _difference(comparison, shown),
            comparison.verdict.replace("_", " ") if comparison else "",
        )
    return table


def decision_line(status: CanaryStatus) -> str:
    report = status.report
    colour = {"abort": "red", "wait": "yellow", "promote": "green"}[report.decision]
    return f"[bold {colour}]{report.decision}[/]: {report.reason}"


def _cell(value: Figure | int, shown: str) -> str:
    if not isinstance(value, Figure):
        return shown.format(value)
    if value.value is None:
        return "-"
    interval = f" [{shown.format(value.interval.low)}, {shown.format(value.interval.high)}]" if value.interval else ""
    return shown.format(value.value) + interval


def _difference(comparison: Comparison | None, shown: str) -> str:
    if comparison is None or comparison.test is None:
        return ""
    test = comparison.test
    return f"{shown.format(test.difference)} ({test.test.replace('_', ' ')}, p={test.p_value:.3g})"
