"""Where the time of a repeated call goes, by operator: torch.profiler around some calls of one function.

The benches' `--op-profile` option uses this: it wraps the function that does one unit of the work (a
training step, a decode step), lets the first calls run unrecorded (warm-up), records each of the next
ones under a profiler of its own on the calling thread, and reports the operators by self CPU time with their share, call counts and
the time of the recorded calls that no operator accounts for (Python and framework code between
operators; a named scope such as `Optimizer.step#AdamW.step` is listed like an operator, with the Python
time inside it). Profiling adds a little time to every operator call, so the shares matter, not the totals.
With `by_memory`, operators are ranked by the CPU memory they allocate and do not free themselves (their
outputs and buffers, summed over the recorded calls: where the bytes come from, not the peak itself).
"""

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from rich.console import Console
from rich.table import Table

TOP_OPERATORS = 12
STEP_MARKERS = ("ProfilerStep",)  # the profiler's own annotations, not operators


@dataclass
class OperatorProfile:
    """What the recorded calls of one function spent, filled in as they run."""

    label: str
    skip_calls: int
    record_calls: int
    by_memory: bool = False
    calls_seen: int = 0
    recorded_calls: int = 0
    recorded_wall_s: float = 0.0
    operators: list[dict] = field(default_factory=list)  # each: operator, self_cpu_s, self_memory_bytes, calls

    def summary(self, limit: int = TOP_OPERATORS) -> dict:
        """JSON-ready: the top `limit` operators by self CPU time (or memory) with their share of the recorded
        wall time, the operators' total, and what is left outside every operator."""
        operators_s = sum(row["self_cpu_s"] for row in self.operators)
        wall_s = max(self.recorded_wall_s, 1e-12)
        top = sorted(self.operators, key=lambda row: row["self_memory_bytes" if self.by_memory else "self_cpu_s"], reverse=True)[:limit]
        return {
            "label": self.label,
            "by_memory": self.by_memory,
            "recorded_calls": self.recorded_calls,
            "skipped_calls": self.skip_calls,
            "wall_s_per_call": self.recorded_wall_s / max(self.recorded_calls, 1),
            "operators_share": operators_s / wall_s,
            "outside_operators_share": max(wall_s - operators_s, 0.0) / wall_s,
            "top": [row | {"share": row["self_cpu_s"] / wall_s, "calls_per_call": row["calls"] / max(self.recorded_calls, 1)} for row in top],
        }


@contextmanager
def profiled_calls(
    owner: object, attribute: str, *, label: str, skip_calls: int = 1, record_calls: int = 4, by_memory: bool = False
) -> Iterator[OperatorProfile]:
    """Replace `owner.attribute` (a function on a module or class) while the block runs: calls number
    `skip_calls` .. `skip_calls + record_calls - 1` each run under a torch.profiler of their own, on the
    calling thread (so nothing between the calls counts); the others run as before."""
    import torch.profiler

    original = getattr(owner, attribute)
    profile = OperatorProfile(label, skip_calls, record_calls, by_memory)
    totals: dict[str, dict] = {}

    def wrapper(*args, **kwargs):
        index = profile.calls_seen
        profile.calls_seen += 1
        if not skip_calls <= index < skip_calls + record_calls:
            return original(*args, **kwargs)
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], profile_memory=by_memory) as profiler:
            started = time.perf_counter()
            try:
                result = original(*args, **kwargs)
            finally:
                profile.recorded_wall_s += time.perf_counter() - started
                profile.recorded_calls += 1
        add_events(totals, profiler)
        return result

    setattr(owner, attribute, wrapper)
    try:
        yield profile
    finally:
        setattr(owner, attribute, original)
        profile.operators = list(totals.values())


def add_events(totals: dict[str, dict], profiler) -> None:
    """Add one profiled call's operators (not the profiler's own annotations) to the running totals."""
    for event in profiler.key_averages():
        if event.key.startswith(STEP_MARKERS):
            continue
        row = totals.setdefault(event.key, {"operator": event.key, "self_cpu_s": 0.0, "self_memory_bytes": 0, "calls": 0})
        row["self_cpu_s"] += event.self_cpu_time_total / 1e6
        row["self_memory_bytes"] += event.self_cpu_memory_usage
        row["calls"] += event.count


COLUMNS = ("operator", "share of wall", "ms per call", "MiB kept per call", "op calls per call")
MEMORY_COLUMN = 3


def print_profile(console: Console, summary: dict) -> None:
    ranked = "CPU memory kept (allocated, not freed by the operator)" if summary["by_memory"] else "self CPU time"
    table = Table(
        title=f"{summary['label']}: top operators by {ranked}, {summary['recorded_calls']} calls recorded "
        f"(after {summary['skipped_calls']} unrecorded), {summary['wall_s_per_call'] * 1000:,.1f} ms per call"
    )
    shown = shown_columns(summary)
    for index in shown:
        table.add_column(COLUMNS[index], justify="left" if index == 0 else "right")
    for row in profile_rows(summary):
        table.add_row(*(row[index] for index in shown))
    console.print(table)
    console.print(markdown_table(summary), markup=False, highlight=False, soft_wrap=True)


def markdown_table(summary: dict, limit: int = 8) -> str:
    """The top `limit` operators and the totals as a markdown table, for bench/README.md."""
    shown = shown_columns(summary)
    lines = ["| " + " | ".join(COLUMNS[i] for i in shown) + " |", "| --- |" + " ---: |" * (len(shown) - 1)]
    table = profile_rows(summary)
    operators, totals = table[:-2], table[-2:]
    for row in operators[:limit] + totals:
        lines.append("| " + " | ".join(row[i] for i in shown) + " |")
    return "\n".join(lines)


def shown_columns(summary: dict) -> list[int]:
    return [index for index in range(len(COLUMNS)) if summary["by_memory"] or index != MEMORY_COLUMN]


def profile_rows(summary: dict) -> list[tuple[str, ...]]:
    """One tuple of COLUMNS per top operator, then the operators' total and the rest."""
    calls = max(summary["recorded_calls"], 1)
    table = [
        (
            row["operator"],
            f"{100 * row['share']:.1f} %",
            f"{row['self_cpu_s'] * 1000 / calls:,.2f}",
            f"{row['self_memory_bytes'] / 2**20 / calls:,.1f}",
            f"{row['calls_per_call']:,.0f}",
        )
        for row in summary["top"]
    ]
    table.append(("(all operators)", f"{100 * summary['operators_share']:.1f} %", "", "", ""))
    table.append(("(outside any operator: Python, framework)", f"{100 * summary['outside_operators_share']:.1f} %", "", "", ""))
    return table
