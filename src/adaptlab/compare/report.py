"""The comparison as people read it: `report.md`, a self-contained `report.html`, `report.json`, and a terminal table.

The content (the recommendation the reports open with, table cells, setup facts, learning-rate notes,
definitions, highlights) is built once by the pure functions here; the three renderers only lay it out.
"""

from collections.abc import Callable
from importlib import resources
from pathlib import Path

from rich.console import Console
from rich.table import Table

from adaptlab import atomic
from adaptlab.compare.forgetting_report import diagnostics_table, forgetting_notes, forgetting_table
from adaptlab.compare import recommendation_view
from adaptlab.compare.plan_report import plan_notes
from adaptlab.compare.formatting import (
    format_bytes,
    format_count,
    format_duration,
    format_lr,
    format_share,
    format_usd,
    format_with_interval,
)
from adaptlab.compare.recommend import (
    Constraints,
    Recommendation,
    recommend,
    versus_full_text,
)
from adaptlab.compare.schema import (
    METHOD_LABELS,
    REPORT_HTML,
    REPORT_JSON,
    REPORT_MD,
    Comparison,
    MethodResult,
    read_comparison,
    unequal_token_budgets,
)
from adaptlab.schemas.review import ReviewResults

METRIC_LABELS = {"exact_match": "Exact match", "contains": "Contains answer", "rouge_l": "ROUGE-L", "accuracy": "Accuracy"}
LR_SOURCES = {"method_default": "default for the method", "user": "set by the user", "sweep": "best of a sweep"}
LR_SOURCES_SHORT = {"method_default": "default", "user": "user", "sweep": "swept"}

Column = tuple[str, Callable[[MethodResult], str]]
NOT_COMPARABLE = " †"
COST_BASES = {"wall_time": "training time × price per hour",
              "cpu_time": "CPU time × price per core-hour (the machine's price ÷ its cores): the cost had the run had the machine to itself"}


def timing_mark(comparison: Comparison) -> str:
    """The mark on timings and costs that are not comparable across the runs (see warnings())."""
    return NOT_COMPARABLE if comparison.timing_notes else ""


def columns(comparison: Comparison) -> list[Column]:
    """Header and cell formatter of every column; the task-metric column only when the comparison has one."""
    mark = timing_mark(comparison)
    cols: list[Column] = [
        ("Method", lambda r: r.label),
        ("Learning rate", lambda r: f"{format_lr(r.learning_rate)} ({LR_SOURCES_SHORT[r.learning_rate_source]})"),
        ("Trainable params", lambda r: f"{format_count(r.trainable_params)} ({r.trainable_percent:.2f} %)"),
        ("Peak memory", lambda r: format_bytes(r.peak_memory_bytes)),
        *([("Topology", format_topology)] if any(r.topology and r.topology.processes > 1 for r in comparison.methods) else []),
        ("Train time", lambda r: format_duration(r.train_time_s) + mark),
        ("Tokens/s", lambda r: f"{r.tokens_per_s:,.0f}" + mark),
        ("Tokens seen", lambda r: f"{r.tokens_seen:,}"),
        ("Artifact", lambda r: format_bytes(r.artifact_size_bytes)),
        ("Eval loss", lambda r: format_with_interval(r.eval_loss, r.intervals.eval_loss, lambda v: f"{v:.4f}", level=False)),
        ("Perplexity", lambda r: f"{r.eval_perplexity:.2f}"),
    ]
    if comparison.task_metric is not None:
        name = METRIC_LABELS[comparison.task_metric.name]
        cols.append((name, lambda r: "–" if r.task_metric_value is None else format_with_interval(
            r.task_metric_value, r.intervals.task_metric, lambda v: f"{100 * v:.1f} %", level=False)))
    cols += [
        ("Relative score", lambda r: "–" if r.relative_score is None else format_with_interval(
            r.relative_score, r.intervals.relative_score, lambda v: f"{v:.1f}", level=False)),
        ("Forgetting", lambda r: format_with_interval(r.forgetting_percent, r.intervals.forgetting_percent, lambda v: f"{v:+.1f} %",
                                                      level=False)),
        ("Cost / run", lambda r: format_usd(r.cost_usd) + mark),
    ]
    return cols


def table(comparison: Comparison) -> tuple[list[str], list[list[str]]]:
    """The comparison table as header + rows of strings."""
    cols = columns(comparison)
    return [header for header, _ in cols], [[cell(r) for _, cell in cols] for r in comparison.methods]


def highlights(comparison: Comparison) -> list[str]:
    """One line per method against full fine-tuning, with the measured ratios."""
    full = comparison.result("full")
    if full is None:
        return ["No full fine-tuning run in this comparison: relative scores and ratios to full fine-tuning are not available."]
    lines = []
    for r in comparison.methods:
        if r is full:
            continue
        score = "–" if r.relative_score is None else format_with_interval(r.relative_score, r.intervals.relative_score, lambda v: f"{v:.1f}")
        lines.append(
            f"{r.label}: relative score {score}{versus_full_text(r.versus_full)}; with {format_share(r.trainable_params, full.trainable_params)} of full FT's trainable "
            f"parameters, {format_share(r.peak_memory_bytes, full.peak_memory_bytes)} of its peak memory and "
            f"{format_share(r.train_time_s, full.train_time_s)} of its training time{timing_mark(comparison)}; artifact {format_bytes(r.artifact_size_bytes)} "
            f"vs {format_bytes(full.artifact_size_bytes)}; forgetting {r.forgetting_percent:+.1f} % vs {full.forgetting_percent:+.1f} %."
        )
    return lines


def warnings(comparison: Comparison) -> list[tuple[str, str]]:
    """Why timings and costs are marked not comparable, held-out rows that copy training rows, and the settings
    known to hold LoRA back, with sources."""
    items = []
    if comparison.timing_notes:
        bases = {r.cost_basis for r in comparison.methods}
        items.append((f"{NOT_COMPARABLE.strip()} Timings not comparable",
                      "; ".join(comparison.timing_notes) + ". Train time and tokens/s measure the machine as much as the method; "
                      f"cost uses {' and '.join(COST_BASES[b] for b in sorted(bases))}."))
    items += [(f"Settings: {w.rule}", f"{w.message} (source: {w.source})") for w in comparison.settings_warnings]
    items += [("Data: held-out contamination", message) for message in comparison.data_warnings]
    return items


def print_warnings(comparison: Comparison, console: Console) -> None:
    for name, text in warnings(comparison):
        console.print(f"[bold yellow]warning[/] {name}: {text}", highlight=False)


def setup_facts(comparison: Comparison) -> list[tuple[str, str]]:
    """What was held equal, and where the figures come from."""
    c = comparison
    budget = f"{c.data.token_budget:,} training tokens per method"
    unequal = unequal_token_budgets(c)
    budget += f" — WARNING: {', '.join(METHOD_LABELS[m] for m in unequal)} saw a different count" if unequal else " (equal for all methods)"
    files = "; ".join(f"{f.path} ({f.role}, {f.rows:,} rows, sha256 {f.sha256[:12]})" for f in c.data.files)
    facts = [
        ("Base model", f"{c.base_model.model_id} ({c.base_model.spec}), weights sha256 {c.base_model.weights_sha256[:12]}, "
                       f"{format_bytes(c.base_model.weights_size_bytes)}"),
        ("Data", f"{c.data.train_examples:,} train / {c.data.eval_examples:,} held-out examples from {files}"),
        ("Token budget", budget),
        ("Seed", seed_fact(c)),
    ]
    if c.task_metric is not None:
        m = c.task_metric
        facts.append(("Task metric", f"{METRIC_LABELS[m.name]} ({'chosen by --metric auto' if m.chosen_by == 'auto' else 'set by --metric'}), "
                                     f"greedy decoding, at most {m.max_new_tokens} new tokens, over {m.examples:,} held-out rows"))
    facts += [
        ("Uncertainty", uncertainty_fact(c)),
        ("Forgetting reference", f"{c.reference.description} ({c.reference.source}, {c.reference.tokens:,} tokens, sha256 {c.reference.sha256[:12]})"),
        ("Hardware", ", ".join(f"{k}: {v}" for k, v in c.hardware.items() if v is not None)),
        ("Price", f"{format_usd(c.price.per_hour_usd)} per hour — {c.price.source}"),
    ]
    return facts


def uncertainty_fact(comparison: Comparison) -> str:
    """How the intervals were computed, and what they do not cover."""
    u = comparison.uncertainty
    if u is None:
        return "no intervals: this report (schema version 1) has no per-example scores to bootstrap from"
    if u.covers == "examples_and_seeds":
        return (f"{100 * u.level:.0f} % intervals by a two-way percentile bootstrap over the training seeds and the held-out examples "
                f"and reference chunks ({u.resamples:,} resamples, seed {u.bootstrap_seed}); relative scores and tests resample each "
                "method and full FT on the same seeds and examples; "
                f"{len(comparison.training_seeds)} training runs per method, so the intervals include the spread across seeds")
    text = (f"{100 * u.level:.0f} % intervals by percentile bootstrap over the held-out examples and reference chunks "
            f"({u.resamples:,} resamples, seed {u.bootstrap_seed}); relative scores and tests resample each method and full FT "
            "on the same examples")
    return text + "; one training run per method, so the intervals cover the sampling of examples only, not run-to-run variation"


def seed_fact(comparison: Comparison) -> str:
    """The split seed, and with several training seeds each method's per-seed relative scores."""
    seeds = comparison.training_seeds
    if len(seeds) < 2:
        return str(comparison.seed)
    spread = "; ".join(
        f"{r.label} " + ", ".join("–" if run.relative_score is None else f"{run.relative_score:.1f}" for run in r.seed_runs)
        for r in comparison.methods if r.seed_runs
    )
    return (f"{comparison.seed} (held-out split); training seeds {', '.join(map(str, seeds))} (initialisation, data order, dropout): "
            f"every method trained once per seed and its figures are the means over seeds; relative score per seed: {spread}")


def learning_rate_notes(comparison: Comparison) -> list[tuple[str, str]]:
    """How each method's learning rate was chosen, with the sweep's results when there was one."""
    notes = []
    for r in comparison.methods:
        text = f"{format_lr(r.learning_rate)}, {LR_SOURCES[r.learning_rate_source]}"
        if r.lr_sweep:
            trials = ", ".join(f"{format_lr(t.learning_rate)} → {t.eval_loss:.4f}" for t in sorted(r.lr_sweep, key=lambda t: t.learning_rate))
            text += f": held-out loss after {r.lr_sweep[0].tokens_seen:,} tokens per trial was {trials}; the lowest was kept"
        notes.append((r.label, text))
    return notes


def format_topology(result: MethodResult) -> str:
    """How the run trained: strategy, processes, nodes (docs/training.md "Scaling out")."""
    if result.topology is None:
        return "single"
    nodes = f", {result.topology.nodes} nodes" if result.topology.nodes > 1 else ""
    return f"{result.topology.strategy} × {result.topology.processes}{nodes}"


def definitions(comparison: Comparison) -> list[tuple[str, str]]:
    """What the derived columns mean, for this comparison's basis."""
    if comparison.relative_score_basis == "task_metric":
        relative = "100 × task metric of the method / task metric of full fine-tuning."
    elif comparison.relative_score_basis == "eval_loss":
        relative = ("100 × exp(loss of full − loss of the method) = 100 × perplexity of full / perplexity of the method: "
                    "the per-token likelihood of the held-out answers relative to full fine-tuning.")
    else:
        relative = "not available: the comparison has no full fine-tuning run."
    memory_kinds = sorted({r.peak_memory_kind for r in comparison.methods})
    memory = {"process_rss": "peak resident memory of the training process (includes Python and libraries)",
              "cuda_max_allocated": "peak CUDA memory allocated by PyTorch"}
    return [
        ("Relative score", f"full fine-tuning = 100; {relative}"),
        ("Forgetting", "100 × (after − before) / before of the per-token loss on the reference set; positive means the "
                       "model got worse at general text, negative that it got better."),
        ("Peak memory", "; ".join(memory[k] for k in memory_kinds) + "; of the main process when a run trained in several "
                        "(Topology: strategy × processes; sharded runs hold a part of the model each)."),
        ("Intervals", "figures in brackets are 95 % bootstrap intervals over the held-out examples, and over the training "
                      "seeds when there are several (see Uncertainty under Setup)."),
        ("Versus full FT", "a paired test of each method against full fine-tuning on the same examples: exact McNemar on "
                           "0/1 task metrics with one training seed, else a paired bootstrap of the relative score (over seeds and "
                           "examples with several seeds); better or worse at p < 0.05, otherwise indistinguishable at this sample size."),
        ("Cost / run", f"{COST_BASES[comparison.methods[0].cost_basis]}; model loading, evaluation and learning-rate sweeps are not included."),
        ("Artifact", "what the run saves: the adapter files for LoRA/DoRA/QLoRA, the whole model for full fine-tuning."),
    ]


def decision(comparison: Comparison, constraints: Constraints | None = None) -> Recommendation:
    """The recommendation the reports open with: `recommend` under the given constraints, or its defaults."""
    return recommend(comparison, constraints or Constraints())


def decision_lines(recommendation: Recommendation) -> list[tuple[int, str]]:
    """The recommendation as (indent, text) lines: the constraints, the reasons, what could not be checked."""
    lines = [(0, "Constraints: " + "; ".join(recommendation_view.constraints_summary(recommendation.constraints)) + ".")]
    lines += [(1, reason.strip()) if reason.startswith("  ") else (0, reason) for reason in recommendation.reasons]
    if recommendation.unchecked:
        lines += [(0, "Not checked:")] + [(1, line) for line in recommendation.unchecked]
    return lines


def render_markdown(comparison: Comparison, recommendation: Recommendation | None = None) -> str:
    header, rows = table(comparison)
    recommendation = recommendation or decision(comparison)
    lines = [f"# Fine-tuning comparison: {comparison.base_model.model_id}", "", f"## {recommendation_view.title(recommendation)}", ""]
    lines += [f"{'  ' * indent}- {text}" for indent, text in decision_lines(recommendation)]
    lines += ["", "Re-render with your constraints: `adaptlab recommend <this folder> --memory-budget ... --write-report`.", ""]
    lines += ["## Results", ""] + [f"- {h}" for h in highlights(comparison)] + [""]
    lines += [f"- **{name}**: {text}" for name, text in plan_notes(comparison)] + ([""] if plan_notes(comparison) else [])
    lines += ["| " + " | ".join(header) + " |", "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    if warnings(comparison):
        lines += ["", "## Warnings", ""] + [f"- **{name}**: {text}" for name, text in warnings(comparison)]
    for title, items in (("Setup", setup_facts(comparison)), ("Learning rates", learning_rate_notes(comparison)),
                         ("How to read the columns", definitions(comparison))):
        lines += ["", f"## {title}", ""] + [f"- **{name}**: {text}" for name, text in items]
    lines += forgetting_markdown(comparison)
    lines += ["", "## Runs", ""] + [f"- **{r.label}**: `{r.run_dir}`" for r in comparison.methods]
    lines += ["", f"Generated by adaptlab at {format_time(comparison)}; data in `{REPORT_JSON}` "
                  f"(schema version {comparison.schema_version}).", ""]
    return "\n".join(lines)


def forgetting_markdown(comparison: Comparison) -> list[str]:
    """The forgetting and weight-diagnostics sections, when the comparison measured them."""
    lines = []
    for title, section in (("Forgetting", forgetting_table(comparison)), ("Weight-space diagnostics", diagnostics_table(comparison))):
        if section is not None:
            header, rows = section
            lines += ["", f"## {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
            lines += ["| " + " | ".join(row) + " |" for row in rows]
    notes = forgetting_notes(comparison)
    return lines + ([""] + [f"- {note}" for note in notes] if notes else [])


def format_time(comparison: Comparison) -> str:
    return f"{comparison.created_at:%Y-%m-%d %H:%M %Z}".rstrip()


def render_html(comparison: Comparison, recommendation: Recommendation | None = None) -> str:
    """One self-contained page: inline CSS and inline SVG charts, no external URL."""
    from jinja2 import Environment

    from adaptlab.compare.plots import METHOD_COLORS, report_charts

    template_text = resources.files("adaptlab.compare").joinpath("report.html.jinja").read_text(encoding="utf-8")
    template = Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True).from_string(template_text)
    header, rows = table(comparison)
    recommendation = recommendation or decision(comparison)
    return template.render(
        c=comparison,
        decision_title=recommendation_view.title(recommendation),
        decision=decision_lines(recommendation),
        decided=recommendation.choice is not None,
        created=format_time(comparison),
        header=header,
        rows=list(zip(comparison.methods, rows, strict=True)),
        colors=METHOD_COLORS,
        highlights=highlights(comparison),
        plan=plan_notes(comparison),
        setup=setup_facts(comparison),
        learning_rates=learning_rate_notes(comparison),
        definitions=definitions(comparison),
        charts=report_charts(comparison),
        unequal_budgets=unequal_token_budgets(comparison),
        warnings=warnings(comparison),
        forgetting_sections=[(title, section) for title, section in (("Forgetting", forgetting_table(comparison)),
                             ("Weight-space diagnostics", diagnostics_table(comparison))) if section is not None],
        forgetting_notes=forgetting_notes(comparison),
    )


def write_reports(comparison: Comparison, out_dir: Path, constraints: Constraints | None = None, *, with_json: bool = True) -> dict[str, Path]:
    """Render the reports, then write each atomically: a failed render leaves the previous reports whole.

    `constraints` set the recommendation they open with (default: recommend's defaults); without `with_json`
    only report.md and report.html are re-rendered (`recommend --write-report`), the data stays as measured.
    """
    out_dir = Path(out_dir)
    recommendation = decision(comparison, constraints)
    rendered = {"json": (out_dir / REPORT_JSON, comparison.model_dump_json(indent=2) + "\n")} if with_json else {}
    rendered["markdown"] = (out_dir / REPORT_MD, render_markdown(comparison, recommendation))
    rendered["html"] = (out_dir / REPORT_HTML, render_html(comparison, recommendation))
    for path, text in rendered.values():
        atomic.write_text(path, text)
    return {kind: path for kind, (path, _) in rendered.items()}


def attach_review_results(folder: Path, results: ReviewResults) -> None:
    """Store a human review's results in the comparison's report.json (replacing earlier results of the same review)
    and re-render report.md and report.html with the default constraints."""
    comparison = read_comparison(folder)
    reviews = [other for other in comparison.human_reviews if other.review_id != results.review_id] + [results]
    write_reports(comparison.model_copy(update={"human_reviews": sorted(reviews, key=lambda r: r.review_id)}), folder)


def comparison_table(comparison: Comparison) -> Table:
    """The table transposed for a terminal: one row per figure, one column per method."""
    header, rows = table(comparison)
    grid = Table(title=f"{comparison.base_model.model_id}: {comparison.data.token_budget:,} training tokens per method",
                 title_justify="left", header_style="bold")
    grid.add_column("")
    for row in rows:
        grid.add_column(row[0], justify="right")
    for i, name in enumerate(header[1:], start=1):
        grid.add_row(name, *(row[i] for row in rows), style="bold" if name == "Relative score" else None)
    return grid


def print_comparison_table(comparison: Comparison, console: Console) -> None:
    console.print(comparison_table(comparison))
    for line in highlights(comparison):
        console.print(f"• {line}", highlight=False)
    for name, text in plan_notes(comparison):
        console.print(f"• {name}: {text}", highlight=False)
    print_warnings(comparison, console)
