"""The forgetting and weight-diagnostics sections of the reports, as header + rows of strings (pure functions;
report.py lays them out in Markdown and HTML)."""

from adaptlab.compare.schema import Comparison
from adaptlab.schemas.forgetting import Estimate

Table = tuple[list[str], list[list[str]]]


def format_estimate(estimate: Estimate | None, digits: int = 3, unit: str = "", signed: bool = False) -> str:
    """'3.412 [3.351, 3.470]': the value and its interval (level in the section note)."""
    if estimate is None:
        return "–"
    spec = f"{'+' if signed else ''}.{digits}f"
    value = f"{estimate.value:{spec}}{unit}"
    if estimate.low is None or estimate.high is None:
        return value
    return f"{value} [{estimate.low:{spec}}, {estimate.high:{spec}}]"


def forgetting_table(comparison: Comparison) -> Table | None:
    """One row per method: reference loss before/after, forgetting, KL on reference and held-out, each task's change."""
    measured = [r for r in comparison.methods if r.forgetting is not None]
    if not measured:
        return None
    task_names = list(dict.fromkeys(task.task for r in measured for task in r.forgetting.tasks))
    header = ["Method", "Reference loss before", "after", "Forgetting", "KL reference (nats/token)", "KL held-out (nats/token)"]
    header += [f"{name} accuracy before → after (change)" for name in task_names]
    rows = []
    for r in measured:
        signals = r.forgetting.signals
        tasks = {task.task: task for task in r.forgetting.tasks}
        row = [
            r.label,
            format_estimate(signals.reference_loss_before),
            format_estimate(signals.reference_loss_after),
            format_estimate(signals.forgetting_percent, 2, " %", signed=True),
            format_estimate(signals.kl_reference, 4),
            format_estimate(signals.kl_held_out, 4),
        ]
        row += [
            f"{tasks[name].before.value:.3f} → {tasks[name].after.value:.3f} ({format_estimate(tasks[name].change, 3, signed=True)})"
            if name in tasks else "–"
            for name in task_names
        ]
        rows.append(row)
    return header, rows


NO_WEIGHT_DELTA = "no weight delta"


def diagnostics_table(comparison: Comparison) -> Table | None:
    """One row per method and module type: relative update, effective rank, intruder dimensions."""
    measured = [r for r in comparison.methods if r.forgetting is not None]
    if not measured:
        return None
    header = ["Method", "Module", "Matrices", "‖ΔW‖/‖W₀‖ mean (max)", "Effective rank mean (max)", "Intruders total (mean)"]
    rows = [
        [
            r.label, row.module_type, str(row.matrices),
            f"{row.relative_update_mean:.2e} ({row.relative_update_max:.2e})",
            f"{row.effective_rank_mean:.1f} ({row.effective_rank_max})",
            f"{row.intruder_dimensions_total} ({row.intruder_dimensions_mean:.2f})",
        ]
        for r in measured if r.forgetting.diagnostics is not None
        for row in r.forgetting.diagnostics.by_module_type
    ]
    rows += [[r.label, NO_WEIGHT_DELTA, "0", "–", "–", "–"] for r in measured if r.forgetting.diagnostics is None]
    return header, rows


def forgetting_notes(comparison: Comparison) -> list[str]:
    """How to read the two tables: interval level, what KL and intruders are, which decomposition ran."""
    measured = [r for r in comparison.methods if r.forgetting is not None]
    if not measured:
        return []
    first = measured[0].forgetting
    notes = [
        f"Intervals: {100 * first.signals.reference_loss_before.level:.0f} % bootstrap over reference chunks, held-out examples "
        "or task documents; before and after are paired.",
        "KL: mean per-token KL(base ‖ tuned) of the next-token distributions, against the base each method trained on.",
    ]
    diagnosed = next((r.forgetting.diagnostics for r in measured if r.forgetting.diagnostics is not None), None)
    if diagnosed is not None:
        settings = diagnosed.settings
        notes.append(
            f"Intruder dimensions: top-{settings.top_k} singular vectors of W₀ + ΔW whose largest |cosine| with W₀'s singular "
            f"vectors is below {settings.cosine_threshold:g}; effective rank covers {100 * settings.energy_fraction:.0f} % of ΔW's "
            f"energy. Decomposition: {diagnosed.decomposition}."
        )
    if any(r.forgetting.diagnostics is None for r in measured):
        notes.append(f"{NO_WEIGHT_DELTA}: prompt and prefix tuning train virtual tokens and leave every weight as it was, "
                     "so there is no ΔW to diagnose.")
    return notes
