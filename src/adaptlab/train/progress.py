"""What a person sees while a run trains or is evaluated: a rich progress bar on a terminal, a plain line every
~30 s in a log file (a bar draws nothing there), then a summary table."""

import time
from collections.abc import Callable
from datetime import timedelta

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from adaptlab.schemas.run_record import RunRecord


PLAIN_LINE_INTERVAL_S = 30.0


def training_progress(console: Console, disable: bool) -> "Progress | PlainProgress":
    """A live bar on a terminal; off one (a log file, a pipe), a plain line every ~30 s."""
    if not console.is_terminal:
        return PlainProgress(console, disable=disable)
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]}"),
        TextColumn("{task.fields[tokens_per_s]} tok/s"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        disable=disable,
        transient=False,
    )


def examples_progress(console: Console) -> "Progress | PlainProgress":
    """Progress counted in examples (an evaluation): a live bar on a terminal; off one, a plain line every ~30 s."""
    if not console.is_terminal:
        return PlainProgress(console, line=plain_examples_line)
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("examples"),
        TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=console, transient=False,
    )


class PlainProgress:
    """The part of rich's Progress the loop uses, written as one line per interval (and at the last step):
    by default step/total, loss, tokens/s, ETA (`line` formats it from the update's fields)."""

    def __init__(self, console: Console, disable: bool = False, interval_s: float = PLAIN_LINE_INTERVAL_S,
                 clock: Callable[[], float] = time.monotonic, line: Callable[..., str] | None = None):
        self.console, self.disable, self.interval_s, self.clock = console, disable, interval_s, clock
        self.line = line or plain_progress_line
        self.description, self.total, self.first_completed, self.completed = "", 0, 0, 0
        self.started = self.last_line = 0.0

    def __enter__(self) -> "PlainProgress":
        return self

    def __exit__(self, *exc_info) -> None:
        return None

    def add_task(self, description: str, total: int, completed: int = 0, **fields) -> int:
        self.description, self.total, self.first_completed, self.completed = description, total, completed, completed
        self.started = self.last_line = self.clock()
        return 0

    def advance(self, task: int, advance: int) -> None:
        self.update(task, self.completed + advance)

    def update(self, task: int, completed: int, **fields: str) -> None:
        unchanged, self.completed = completed == self.completed, completed
        now = self.clock()
        if self.disable or unchanged or (now - self.last_line < self.interval_s and completed < self.total):
            return
        self.last_line = now
        self.console.print(self.line(self.description, completed, self.total, elapsed_s=now - self.started,
                                     steps_done=completed - self.first_completed, **fields), highlight=False)


def plain_progress_line(description: str, completed: int, total: int, loss: str, tokens_per_s: str, elapsed_s: float, steps_done: int) -> str:
    """`lora: step 40/400  loss 1.2345  2,100 tok/s  elapsed 0:01:00  ETA 0:09:00` (ETA from this session's pace)."""
    return f"{description}: step {completed}/{total}  loss {loss}  {tokens_per_s} tok/s  {_elapsed_and_eta(completed, total, elapsed_s, steps_done)}"


def plain_examples_line(description: str, completed: int, total: int, elapsed_s: float, steps_done: int) -> str:
    """`evaluating LoRA: 40/123 examples  elapsed 0:00:30  ETA 0:01:02`."""
    return f"{description}: {completed}/{total} examples  {_elapsed_and_eta(completed, total, elapsed_s, steps_done)}"


def _elapsed_and_eta(completed: int, total: int, elapsed_s: float, done: int) -> str:
    eta = "-" if done <= 0 else str(timedelta(seconds=round(elapsed_s / done * (total - completed))))
    return f"elapsed {timedelta(seconds=round(elapsed_s))}  ETA {eta}"


def format_bytes(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(size) < 1000 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def summary_table(record: RunRecord) -> Table:
    metrics = record.metrics
    table = Table(title=f"{record.method} on {record.base_model.model_id}", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    rows = [
        ("trainable params", f"{record.params.trainable:,} of {record.params.total:,} ({record.params.trainable_percent:.3f}%)"),
        ("steps", f"{metrics.steps}"),
        ("tokens seen", f"{metrics.tokens_seen:,} non-padding"),
        ("wall time", f"{metrics.wall_time_s:.1f} s"),
        ("CPU time", _cpu_time(metrics.process_cpu_time_s, metrics.wall_time_s)),
        ("throughput", f"{metrics.tokens_per_s:,.0f} tokens/s"),
        ("precision", f"{record.precision_chosen} ({record.precision_reason})" if record.precision_chosen else "-"),
        ("peak memory", f"{format_bytes(metrics.peak_memory_bytes)} ({metrics.peak_memory_kind})"),
        ("final train loss", _fmt(metrics.final_train_loss)),
        ("eval loss", _fmt(metrics.eval_loss)),
        ("eval perplexity", _fmt(metrics.eval_perplexity)),
        ("artifact", f"{record.artifact.kind}, {format_bytes(record.artifact.size_bytes)}" if record.artifact else "-"),
    ]
    figures = record.eval_curve[-1].metrics if record.eval_curve else {}
    for name in (name for name in figures if not name.endswith(("_low", "_high"))):
        interval = f" (95 % CI {figures[name + '_low']:.3f}–{figures[name + '_high']:.3f})" if name + "_low" in figures else ""
        rows.insert(-1, (f"eval {name.replace('_', '-')}", f"{figures[name]:.4f}{interval}"))
    for label, value in rows:
        table.add_row(label, value)
    return table


def _cpu_time(cpu_time_s: float | None, wall_time_s: float) -> str:
    if cpu_time_s is None:
        return "-"
    return f"{cpu_time_s:.1f} s ({cpu_time_s / max(wall_time_s, 1e-9):.1f} cores busy on average)"


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"
