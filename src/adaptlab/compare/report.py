"""The comparison as people read it: `report.md`, a self-contained `report.html`, `report.json`, and a terminal table.

The content (table cells, setup facts, learning-rate notes, definitions, highlights) is built once by
the pure functions here; the three renderers only lay it out.
"""

from collections.abc import Callable
from importlib import resources
from pathlib import Path

from rich.console import Console
from rich.table import Table

from adaptlab import atomic
from adaptlab.compare.forgetting_report import diagnostics_table, forgetting_notes, forgetting_table
from adaptlab.compare.formatting import format_bytes, format_count, format_duration, format_lr, format_share, format_usd
from adaptlab.compare.schema import METHOD_LABELS, REPORT_JSON, Comparison, MethodResult, unequal_token_budgets

REPORT_MD = "report.md"
REPORT_HTML = "report.html"
METRIC_LABELS = {"exact_match": "Exact match", "contains": "Contains answer", "rouge_l": "ROUGE-L", "accuracy": "Accuracy"}
LR_SOURCES = {"method_default": "default for the method", "user": "set by the user", "sweep": "best of a sweep"}
LR_SOURCES_SHORT = {"method_default": "default", "user": "user", "sweep": "swept"}

Column = tuple[str, Callable[[MethodResult], str]]


def columns(comparison: Comparison) -> list[Column]:
    """Header and cell formatter of every column; the task-metric column only when the comparison has one."""
    cols: list[Column] = [
        ("Method", lambda r: r.label),
        ("Learning rate", lambda r: f"{format_lr(r.learning_rate)} ({LR_SOURCES_SHORT[r.learning_rate_source]})"),
        ("Trainable params", lambda r: f"{format_count(r.trainable_params)} ({r.trainable_percent:.2f} %)"),
        ("Peak memory", lambda r: format_bytes(r.peak_memory_bytes)),
        ("Train time", lambda r: format_duration(r.train_time_s)),
        ("Tokens/s", lambda r: f"{r.tokens_per_s:,.0f}"),
        ("Tokens seen", lambda r: f"{r.tokens_seen:,}"),
        ("Artifact", lambda r: format_bytes(r.artifact_size_bytes)),
        ("Eval loss", lambda r: f"{r.eval_loss:.4f}"),
        ("Perplexity", lambda r: f"{r.eval_perplexity:.2f}"),
    ]
    if comparison.task_metric is not None:
        name = METRIC_LABELS[comparison.task_metric.name]
        cols.append((name, lambda r: "–" if r.task_metric_value is None else f"{100 * r.task_metric_value:.1f} %"))
    cols += [
        ("Relative score", lambda r: "–" if r.relative_score is None else f"{r.relative_score:.1f}"),
        ("Forgetting", lambda r: f"{r.forgetting_percent:+.1f} %"),
        ("Cost / run", lambda r: format_usd(r.cost_usd)),
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
        score = "–" if r.relative_score is None else f"{r.relative_score:.1f}"
        lines.append(
            f"{r.label}: relative score {score} with {format_share(r.trainable_params, full.trainable_params)} of full FT's trainable "
            f"parameters, {format_share(r.peak_memory_bytes, full.peak_memory_bytes)} of its peak memory and "
            f"{format_share(r.train_time_s, full.train_time_s)} of its training time; artifact {format_bytes(r.artifact_size_bytes)} "
            f"vs {format_bytes(full.artifact_size_bytes)}; forgetting {r.forgetting_percent:+.1f} % vs {full.forgetting_percent:+.1f} %."
        )
    return lines


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
        ("Seed", str(c.seed)),
    ]
    if c.task_metric is not None:
        m = c.task_metric
        facts.append(("Task metric", f"{METRIC_LABELS[m.name]} ({'chosen by --metric auto' if m.chosen_by == 'auto' else 'set by --metric'}), "
                                     f"greedy decoding, at most {m.max_new_tokens} new tokens, over {m.examples:,} held-out rows"))
    facts += [
        ("Forgetting reference", f"{c.reference.description} ({c.reference.source}, {c.reference.tokens:,} tokens, sha256 {c.reference.sha256[:12]})"),
        ("Hardware", ", ".join(f"{k}: {v}" for k, v in c.hardware.items() if v is not None)),
        ("Price", f"{format_usd(c.price.per_hour_usd)} per hour — {c.price.source}"),
    ]
    return facts


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
        ("Peak memory", "; ".join(memory[k] for k in memory_kinds) + "."),
        ("Cost / run", "training time × price per hour; model loading, evaluation and learning-rate sweeps are not included."),
        ("Artifact", "what the run saves: the adapter files for LoRA/DoRA/QLoRA, the whole model for full fine-tuning."),
    ]


def render_markdown(comparison: Comparison) -> str:
    header, rows = table(comparison)
    lines = [f"# Fine-tuning comparison: {comparison.base_model.model_id}", ""]
    lines += [f"- {h}" for h in highlights(comparison)] + [""]
    lines += ["| " + " | ".join(header) + " |", "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
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


def render_html(comparison: Comparison) -> str:
    """One self-contained page: inline CSS and inline SVG charts, no external URL."""
    from jinja2 import Environment

    from adaptlab.compare.plots import METHOD_COLORS, report_charts

    template_text = resources.files("adaptlab.compare").joinpath("report.html.jinja").read_text(encoding="utf-8")
    template = Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True).from_string(template_text)
    header, rows = table(comparison)
    return template.render(
        c=comparison,
        created=format_time(comparison),
        header=header,
        rows=list(zip(comparison.methods, rows, strict=True)),
        colors=METHOD_COLORS,
        highlights=highlights(comparison),
        setup=setup_facts(comparison),
        learning_rates=learning_rate_notes(comparison),
        definitions=definitions(comparison),
        charts=report_charts(comparison),
        unequal_budgets=unequal_token_budgets(comparison),
        forgetting_sections=[(title, section) for title, section in (("Forgetting", forgetting_table(comparison)),
                             ("Weight-space diagnostics", diagnostics_table(comparison))) if section is not None],
        forgetting_notes=forgetting_notes(comparison),
    )


def write_reports(comparison: Comparison, out_dir: Path) -> dict[str, Path]:
    """Render all three reports, then write each atomically: a failed render leaves the previous reports whole."""
    out_dir = Path(out_dir)
    rendered = {
        out_dir / REPORT_JSON: comparison.model_dump_json(indent=2) + "\n",
        out_dir / REPORT_MD: render_markdown(comparison),
        out_dir / REPORT_HTML: render_html(comparison),
    }
    for path, text in rendered.items():
        atomic.write_text(path, text)
    return dict(zip(("json", "markdown", "html"), rendered, strict=True))


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
