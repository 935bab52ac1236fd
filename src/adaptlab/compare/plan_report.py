"""How a comparison's runs were planned, in words for the reports: the staged order and where it stopped
(with what the skipped methods would have cost), and the shared base the hybrid trained on."""

from adaptlab.compare.formatting import format_bytes, format_duration, format_usd
from adaptlab.compare.schema import (
    METHOD_LABELS,
    Comparison,
    StagedOutcome,
    TunedBaseSummary,
)


def plan_notes(comparison: Comparison) -> list[tuple[str, str]]:
    notes = []
    if comparison.staged is not None:
        notes.append(("Staged", staged_text(comparison.staged)))
    if comparison.tuned_base is not None:
        notes.append(("Hybrid base", tuned_base_text(comparison.tuned_base)))
    return notes


def staged_text(staged: StagedOutcome) -> str:
    order = " → ".join(METHOD_LABELS[m] for m in staged.order)
    checks = "; ".join(
        f"{METHOD_LABELS[c.method]} {'met' if c.met else 'missed'} it ({'point' if c.bound == 'point' else c.bound + ' bound'} {c.value:.4g})"
        for c in staged.checks
    )
    text = f"trained in the order {order} until one met {staged.target} on its 95 % interval: {checks}."
    if staged.met_by is None:
        text += f" Target not met: no method reached {staged.target}."
    elif staged.forced:
        text += f" {METHOD_LABELS[staged.met_by]} met the target first; --force-all trained the rest anyway."
    if staged.skipped:
        time_s = sum(s.estimated_train_time_s for s in staged.skipped)
        cost = sum(s.estimated_cost_usd for s in staged.skipped)
        text += (f" Skipped {', '.join(METHOD_LABELS[s.method] for s in staged.skipped)}, saving an estimated "
                 f"{format_duration(time_s)} of training and {format_usd(cost)} ("
                 + "; ".join(f"{METHOD_LABELS[s.method]}: {s.estimated_from}" for s in staged.skipped) + ").")
    return text


def tuned_base_text(tuned: TunedBaseSummary) -> str:
    return (f"the hybrid's LoRA adapters train on `{tuned.run_dir}`, {METHOD_LABELS[tuned.method]} of the base on "
            f"{', '.join(tuned.data_files)} ({format_bytes(tuned.artifact_size_bytes)} of weights, weights sha256 "
            f"{tuned.weights_sha256[:12]}); it trained in {format_duration(tuned.train_time_s)} for {format_usd(tuned.cost_usd)}, "
            "paid once for every client.")
