"""The report's charts as inline SVG strings (matplotlib Figure objects, no pyplot state): no files, no external URLs."""

import io
from collections.abc import Callable, Sequence

from adaptlab.compare.formatting import format_bytes, format_count, format_duration
from adaptlab.compare.schema import Comparison, MethodResult
from adaptlab.stats.intervals import Interval

METHOD_COLORS = {
    "full": "#1f4e79", "lora": "#e07b39", "dora": "#8e5fbf", "qlora": "#2a9d8f", "hybrid": "#b5475b", "ia3": "#c0392b", "loha": "#b8860b",
    "lokr": "#6b8e23", "oft": "#d45d99", "vera": "#4682b4", "prompt": "#7f7f7f", "prefix": "#17becf",
}
TEXT_COLOR = "#1d2433"
GRID_COLOR = "#e3e6ec"
RC = {
    "svg.fonttype": "none",  # text stays text: crisp, selectable, small
    "svg.hashsalt": "adaptlab",  # stable ids, so the same comparison renders the same file
    "font.family": "sans-serif",
    "font.sans-serif": ["Inter", "Helvetica Neue", "Arial", "DejaVu Sans"],
    "font.size": 9,
    "axes.edgecolor": "#9aa3b2",
    "axes.labelcolor": TEXT_COLOR,
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "xtick.color": "#4a5366",
    "ytick.color": "#4a5366",
}


def report_charts(comparison: Comparison) -> dict[str, str]:
    """Every chart of the report, by name: loss_curves, peak_memory, train_time, quality, forgetting."""
    results = comparison.methods
    charts = {
        "loss_curves": loss_curves_svg(results),
        "peak_memory": bar_chart_svg("peak_memory", "Peak memory · lower is better", results, lambda r: r.peak_memory_bytes, format_bytes),
        "train_time": bar_chart_svg("train_time", "Training time · lower is better", results, lambda r: r.train_time_s, format_duration),
        "forgetting": bar_chart_svg(
            "forgetting", "Forgetting: reference loss change · lower is better", results, lambda r: r.forgetting_percent, lambda p: f"{p:+.1f} %",
            interval=lambda r: r.intervals.forgetting_percent,
        ),
    }
    diagnosed = [r for r in results if r.forgetting is not None and r.forgetting.diagnostics is not None]  # a weight delta
    if diagnosed:
        charts["intruders"] = intruders_svg(diagnosed)
    if all(r.relative_score is not None for r in results):
        charts["quality"] = bar_chart_svg(
            "quality", "Relative score · full FT = 100 · higher is better", results, lambda r: r.relative_score, lambda s: f"{s:.1f}",
            reference_line=100.0, interval=lambda r: r.intervals.relative_score,
        )
    return charts


def loss_curves_svg(results: Sequence[MethodResult]) -> str:
    """Training loss of every method against tokens seen; held-out loss as dashed markers."""
    import matplotlib
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    with matplotlib.rc_context(RC | {"svg.id": "chart-loss_curves"}):
        fig = Figure(figsize=(9.0, 3.4), layout="constrained")
        ax = fig.subplots()
        for result in results:
            color = METHOD_COLORS[result.method]
            tokens = [p.tokens_seen for p in result.loss_curve]
            losses = [p.loss for p in result.loss_curve]
            window = max(1, len(losses) // 25)
            if window > 1:
                ax.plot(tokens, losses, color=color, alpha=0.22, linewidth=0.8)
            ax.plot(tokens[window - 1 :], moving_average(losses, window), color=color, linewidth=1.8, label=f"{result.label} train")
            eval_tokens = [tokens_at_step(result, p.step) for p in result.eval_curve]
            ax.plot(
                eval_tokens, [p.loss for p in result.eval_curve], color=color, linestyle="--", marker="o", markersize=4,
                linewidth=1.0, label=f"{result.label} held-out",
            )
        ax.set_title("Loss vs tokens seen")
        ax.set_xlabel("tokens seen")
        ax.set_ylabel("loss (per token)")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: format_count(x)))
        ax.grid(True, color=GRID_COLOR, linewidth=0.8)
        ax.set_axisbelow(True)
        fig.legend(frameon=False, fontsize=8, loc="outside right upper")
        return _to_svg(fig)


def bar_chart_svg(
    name: str,
    title: str,
    results: Sequence[MethodResult],
    value: Callable[[MethodResult], float],
    label: Callable[[float], str],
    reference_line: float | None = None,
    interval: Callable[[MethodResult], Interval | None] = lambda r: None,
) -> str:
    """One horizontal bar per method, its value written at the end of the bar; a 95 % error bar where it has an interval."""
    import matplotlib
    from matplotlib.figure import Figure

    with matplotlib.rc_context(RC | {"svg.id": f"chart-{name}", "font.size": 10}):
        fig = Figure(figsize=(6.0, 0.45 * len(results) + 0.8), layout="constrained")
        ax = fig.subplots()
        values = [float(value(r)) for r in results]
        rows = range(len(results))
        ax.barh(rows, values, color=[METHOD_COLORS[r.method] for r in results], height=0.62)
        ax.set_yticks(list(rows), [r.label for r in results])
        ax.invert_yaxis()
        bounds = [(row, v, interval(r)) for row, v, r in zip(rows, values, results, strict=True) if interval(r) is not None]
        for row, v, bar in bounds:
            ax.errorbar(v, row, xerr=[[v - bar.low], [bar.high - v]], fmt="none", ecolor=TEXT_COLOR, elinewidth=1.2, capsize=4)
        ends = values + [bar.high for _, _, bar in bounds] + [bar.low for _, _, bar in bounds]
        span = max([abs(v) for v in ends] + [abs(reference_line or 0.0), 1e-12])
        for row, v, r in zip(rows, values, results, strict=True):
            inside = abs(v) > 0.3 * span  # long bars carry their label inside, clear of reference lines
            offset = 0.015 * span * (1 if v >= 0 else -1) * (-1 if inside else 1)
            bar = interval(r)
            anchor = v if inside or bar is None else (bar.high if v >= 0 else bar.low)  # outside labels clear the error bar
            ax.text(anchor + offset, row, label(v), va="center", ha=("right" if v >= 0 else "left") if inside else ("left" if v >= 0 else "right"),
                    fontsize=9, color="white" if inside else TEXT_COLOR, fontweight="bold" if inside else "normal")
        low, high = min(0.0, *ends), max(0.0, *ends, reference_line or 0.0)
        ax.set_xlim(low - (0.2 * span if low < 0 else 0.0), high + 0.2 * span)
        ax.axvline(0.0, color="#9aa3b2", linewidth=0.8)
        if reference_line is not None:
            ax.axvline(reference_line, color=TEXT_COLOR, linestyle=":", linewidth=1.0)
        ax.set_title(title)
        ax.spines["left"].set_visible(False)
        ax.tick_params(axis="y", length=0)
        ax.xaxis.set_visible(False)
        ax.spines["bottom"].set_visible(False)
        return _to_svg(fig)


def intruders_svg(results: Sequence[MethodResult]) -> str:
    """Intruder dimensions per module type (summed over layers), one bar group per module type, one bar per method."""
    import matplotlib
    from matplotlib.figure import Figure

    kinds = list(dict.fromkeys(row.module_type for r in results for row in r.forgetting.diagnostics.by_module_type))
    width = 0.8 / len(results)
    with matplotlib.rc_context(RC | {"svg.id": "chart-intruders"}):
        fig = Figure(figsize=(9.0, 3.0), layout="constrained")
        ax = fig.subplots()
        for index, result in enumerate(results):
            totals = {row.module_type: row.intruder_dimensions_total for row in result.forgetting.diagnostics.by_module_type}
            ax.bar([k + index * width for k in range(len(kinds))], [totals.get(kind, 0) for kind in kinds], width,
                   color=METHOD_COLORS[result.method], label=result.label)
        ax.set_xticks([k + 0.4 - width / 2 for k in range(len(kinds))], kinds)
        ax.set_title("Intruder dimensions per module type (summed over layers) · LoRA tends to create them")
        ax.set_ylabel("intruder dimensions")
        ax.grid(True, axis="y", color=GRID_COLOR, linewidth=0.8)
        ax.set_axisbelow(True)
        fig.legend(frameon=False, fontsize=8, loc="outside right upper")
        return _to_svg(fig)


def moving_average(values: Sequence[float], window: int) -> list[float]:
    """Trailing mean over `window` points; len(values) − window + 1 points."""
    sums = [0.0]
    for v in values:
        sums.append(sums[-1] + v)
    return [(sums[i] - sums[i - window]) / window for i in range(window, len(sums))]


def tokens_at_step(result: MethodResult, step: int) -> int:
    """Tokens seen at an optimizer step, read off the training loss curve (its last point at or before `step`)."""
    seen = [p.tokens_seen for p in result.loss_curve if p.step <= step]
    return seen[-1] if seen else 0


def _to_svg(fig) -> str:
    """The figure as an <svg> element, without the XML prolog, ready to inline in HTML."""
    buffer = io.StringIO()
    no_metadata = {"Date": None, "Creator": None, "Format": None, "Type": None}  # no RDF block, no links, same bytes every time
    fig.savefig(buffer, format="svg", metadata=no_metadata, transparent=True)
    svg = buffer.getvalue()
    return svg[svg.index("<svg") :]
