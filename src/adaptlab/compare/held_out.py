"""`adaptlab compare` for objectives judged on their own held-out figures (`--task classification`: accuracy and
macro-F1; `--objective dpo`: preference accuracy and mean margin): every method trained on the same base, data,
split, seed and steps, each figure with its 95 % interval, beside the objective's baseline (classification: the
majority class), parameters, peak memory (a full fine-tuning DPO run's includes its frozen reference) and time.

Writes compare.yaml, configs/<method>.yaml, runs/<method>/ (with `evaluation.json` for the registry gates) and
report.{json,md} into --out; re-running the same command reuses finished runs and resumes interrupted ones."""

from datetime import datetime, timezone
from pathlib import Path

import yaml
from pydantic import BaseModel, Field
from rich.console import Console
from rich.table import Table

from adaptlab import atomic
from adaptlab.compare.config import CompareConfig
from adaptlab.compare.schema import full_fine_tuning
from adaptlab.errors import ConfigError
from adaptlab.methods import get_method
from adaptlab.models import load_tokenizer, resolve_model
from adaptlab.objectives import get_objective
from adaptlab.registry.lineage import EVALUATION_FILE, EvaluationFile
from adaptlab.schemas.run_record import RunRecord
from adaptlab.train.progress import format_bytes

REPORT_JSON = "report.json"
REPORT_MD = "report.md"


class HeldOutResult(BaseModel):
    method: str
    label: str
    run_dir: str
    learning_rate: float
    figures: dict[str, float] = Field(description="the objective's held-out figures, each with its 95 % bounds NAME_low, NAME_high")
    relative_score: float | None = Field(description="100 × the first figure / full fine-tuning's")
    trainable_params: int
    total_params: int
    peak_memory_bytes: int
    wall_time_s: float
    steps: int


class HeldOutComparison(BaseModel):
    created_at: datetime
    base_model: str
    task: str
    objective: str
    metrics: list[str] = Field(description="the figures compared, the first one the relative score's")
    labels: list[str]
    train_examples: int
    eval_examples: int
    baseline: dict[str, float] | None = Field(description="the objective's baseline figures (classification: the majority class)")
    methods: list[HeldOutResult]


def compare_held_out(config: CompareConfig, console: Console) -> HeldOutComparison:
    from adaptlab.compare.runner import (  # the runner dispatches here: imported at call time
        check_compare_dir,
        run_method,
    )

    if config.lr_sweep:
        raise ConfigError(f"--lr-sweep is not available for --task {config.task} --objective {config.objective}; give --learning-rates instead")
    objective = get_objective(config.task, config.objective)
    config = objective.with_defaults(config)  # the runs' configs and compare.yaml record the settings used
    out = Path(config.out)
    check_compare_dir(out, config)
    base = resolve_model(config.model)
    tokenizer = load_tokenizer(base.path)
    data = objective.prepare_data(config, tokenizer)
    plan = objective.batch_plan(config, 1, tokenizer.pad_token_id)
    steps = config.max_steps or plan.steps_per_epoch(data.train) * config.epochs
    if steps == 0:
        raise ConfigError(f"{len(data.train)} training examples are fewer than one optimizer step needs; lower --micro-batch-size or --grad-accum")
    atomic.write_text(out / "compare.yaml", yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False))

    results = []
    for method in config.methods:
        learning_rate, _ = config.learning_rate_for(method)
        run_dir = out / "runs" / method
        record = run_method(config.train_config(method, learning_rate, run_dir, max_steps=steps, labels=data.labels), console)
        results.append(_result(record, str(run_dir.relative_to(out)), learning_rate))
    metrics = list(objective.held_out_metrics)
    results = _with_relative_scores(results, metrics[0])
    for result in results:
        figures = {name: result.figures[name] for name in metrics} | {"relative_score": result.relative_score}
        evaluation = EvaluationFile(metrics={k: v for k, v in figures.items() if v is not None}, measured_by="adaptlab compare")
        atomic.write_json(out / result.run_dir / EVALUATION_FILE, evaluation.model_dump(mode="json"))
    comparison = HeldOutComparison(
        created_at=datetime.now(timezone.utc),
        base_model=base.model_id,
        task=config.task,
        objective=config.objective,
        metrics=metrics,
        labels=data.labels,
        train_examples=len(data.train),
        eval_examples=len(data.eval),
        baseline=objective.baseline_figures(data, config),
        methods=results,
    )
    atomic.write_json(out / REPORT_JSON, comparison.model_dump(mode="json"))
    atomic.write_text(out / REPORT_MD, markdown_report(comparison))
    console.print(comparison_table(comparison))
    console.print(f"reports: {out / REPORT_MD}  {out / REPORT_JSON}")
    return comparison


def _result(record: RunRecord, run_dir: str, learning_rate: float) -> HeldOutResult:
    return HeldOutResult(
        method=record.method, label=get_method(record.method).label, run_dir=run_dir, learning_rate=learning_rate,
        figures=record.eval_curve[-1].metrics, relative_score=None, trainable_params=record.params.trainable,
        total_params=record.params.total, peak_memory_bytes=record.metrics.peak_memory_bytes,
        wall_time_s=record.metrics.wall_time_s, steps=record.metrics.steps,
    )


def _with_relative_scores(results: list[HeldOutResult], metric: str) -> list[HeldOutResult]:
    """`metric` relative to full fine-tuning's (= 100), when full fine-tuning was compared and scored above 0."""
    full = full_fine_tuning(results)
    if full is None or full.figures[metric] <= 0:
        return results
    return [r.model_copy(update={"relative_score": 100.0 * r.figures[metric] / full.figures[metric]}) for r in results]


def _figure(figures: dict[str, float], name: str) -> str:
    if name not in figures:
        return "-"
    interval = f" [{figures[name + '_low']:.3f}, {figures[name + '_high']:.3f}]" if name + "_low" in figures else ""
    return f"{figures[name]:.3f}{interval}"


def _header(comparison: HeldOutComparison) -> list[str]:
    figures = [f"{name.replace('_', ' ')} [95 % CI]" for name in comparison.metrics]
    return ["method", *figures, "relative score", "trainable params", "peak memory", "train time", "steps"]


def _rows(comparison: HeldOutComparison) -> list[list[str]]:
    rows = []
    if comparison.baseline is not None:
        rows.append(["baseline", *(_figure(comparison.baseline, name) for name in comparison.metrics), "-", "0", "-", "-", "-"])
    for r in comparison.methods:
        rows.append([
            r.label, *(_figure(r.figures, name) for name in comparison.metrics),
            "-" if r.relative_score is None else f"{r.relative_score:.1f}",
            f"{r.trainable_params:,} of {r.total_params:,}", format_bytes(r.peak_memory_bytes), f"{r.wall_time_s:.0f} s", f"{r.steps}",
        ])
    return rows


def comparison_table(comparison: HeldOutComparison) -> Table:
    table = Table(title=f"{comparison.task} / {comparison.objective} on {comparison.base_model}: {comparison.eval_examples} held-out rows")
    for name in _header(comparison):
        table.add_column(name)
    for row in _rows(comparison):
        table.add_row(*row)
    return table


def markdown_report(comparison: HeldOutComparison) -> str:
    header = _header(comparison)
    labels = f"Labels {', '.join(comparison.labels)}; " if comparison.labels else ""
    lines = [
        f"# {comparison.task} / {comparison.objective} comparison on {comparison.base_model}",
        "",
        f"{labels}{comparison.train_examples} training rows, {comparison.eval_examples} held-out rows. Proportions carry Wilson "
        "score intervals, macro-F1 a percentile bootstrap over the held-out rows, a mean margin a t interval; the relative "
        f"score is 100 × {comparison.metrics[0].replace('_', ' ')} / full fine-tuning's. The baseline (when the objective "
        "has one) is the majority class. Peak memory is the training process's, a reference model included.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(row) + " |" for row in _rows(comparison)),
        "",
    ]
    return "\n".join(lines)
