"""What a person sees while a run trains: a rich progress bar, then a summary table."""

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from adaptlab.schemas.run_record import RunRecord


def training_progress(console: Console, disable: bool) -> Progress:
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
        ("throughput", f"{metrics.tokens_per_s:,.0f} tokens/s"),
        ("peak memory", f"{format_bytes(metrics.peak_memory_bytes)} ({metrics.peak_memory_kind})"),
        ("final train loss", _fmt(metrics.final_train_loss)),
        ("eval loss", _fmt(metrics.eval_loss)),
        ("eval perplexity", _fmt(metrics.eval_perplexity)),
        ("artifact", f"{record.artifact.kind}, {format_bytes(record.artifact.size_bytes)}" if record.artifact else "-"),
    ]
    for label, value in rows:
        table.add_row(label, value)
    return table


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"
