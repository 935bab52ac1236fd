"""`adaptlab compare` for objectives that do not generate text (`--task classification`): every method trained on
the same base, data, split, seed and steps, then judged on the held-out figures its own run measured (accuracy and
macro-F1 with 95 % intervals), beside the majority-class baseline, parameters, peak memory and time.

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
from adaptlab.eval.classification import ClassificationScores, majority_baseline
from adaptlab.methods import get_method
from adaptlab.models import load_tokenizer, resolve_model
from adaptlab.objectives import get_objective
from adaptlab.registry.lineage import EVALUATION_FILE, EvaluationFile
from adaptlab.schemas.run_record import RunRecord
from adaptlab.stats.intervals import Interval
from adaptlab.train.progress import format_bytes

REPORT_JSON = "report.json"
REPORT_MD = "report.md"


class HeldOutResult(BaseModel):
    method: str
    label: str
    run_dir: str
    learning_rate: float
    scores: ClassificationScores
    relative_score: float | None = Field(description="100 × accuracy / full fine-tuning's accuracy")
    trainable_params: int
    total_params: int
    peak_memory_bytes: int
    wall_time_s: float
    steps: int


class HeldOutComparison(BaseModel):
    created_at: datetime
    base_model: str
    task: str
    labels: list[str]
    train_examples: int
    eval_examples: int
    majority_baseline: ClassificationScores
    methods: list[HeldOutResult]


def compare_held_out(config: CompareConfig, console: Console) -> HeldOutComparison:
    from adaptlab.compare.runner import check_compare_dir, run_method  # the runner dispatches here: imported at call time

    if config.lr_sweep:
        raise ConfigError(f"--lr-sweep is not available for --task {config.task}; give --learning-rates instead")
    out = Path(config.out)
    check_compare_dir(out, config)
    base = resolve_model(config.model)
    tokenizer = load_tokenizer(base.path)
    objective = get_objective(config.task, config.objective)
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
    results = _with_relative_scores(results)
    for result in results:
        metrics = {"accuracy": result.scores.accuracy, "macro_f1": result.scores.macro_f1, "relative_score": result.relative_score}
        evaluation = EvaluationFile(metrics={k: v for k, v in metrics.items() if v is not None}, measured_by="adaptlab compare")
        atomic.write_json(out / result.run_dir / EVALUATION_FILE, evaluation.model_dump(mode="json"))
    comparison = HeldOutComparison(
        created_at=datetime.now(timezone.utc),
        base_model=base.model_id,
        task=config.task,
        labels=data.labels,
        train_examples=len(data.train),
        eval_examples=len(data.eval),
        majority_baseline=majority_baseline([e.label for e in data.train], [e.label for e in data.eval], seed=config.seed),
        methods=results,
    )
    atomic.write_json(out / REPORT_JSON, comparison.model_dump(mode="json"))
    atomic.write_text(out / REPORT_MD, markdown_report(comparison))
    console.print(comparison_table(comparison))
    console.print(f"reports: {out / REPORT_MD}  {out / REPORT_JSON}")
    return comparison


def _result(record: RunRecord, run_dir: str, learning_rate: float) -> HeldOutResult:
    final = record.eval_curve[-1].metrics
    scores = ClassificationScores(
        examples=record.data.eval_examples,
        accuracy=final["accuracy"],
        accuracy_interval=_interval(final, "accuracy"),
        macro_f1=final["macro_f1"],
        macro_f1_interval=_interval(final, "macro_f1"),
    )
    return HeldOutResult(
        method=record.method, label=get_method(record.method).label, run_dir=run_dir, learning_rate=learning_rate, scores=scores,
        relative_score=None, trainable_params=record.params.trainable, total_params=record.params.total,
        peak_memory_bytes=record.metrics.peak_memory_bytes, wall_time_s=record.metrics.wall_time_s, steps=record.metrics.steps,
    )


def _interval(figures: dict[str, float], name: str) -> Interval | None:
    if f"{name}_low" not in figures:
        return None
    return Interval(low=figures[f"{name}_low"], high=figures[f"{name}_high"])


def _with_relative_scores(results: list[HeldOutResult]) -> list[HeldOutResult]:
    """Accuracy relative to full fine-tuning's (= 100), when full fine-tuning was compared and scored above 0."""
    full = full_fine_tuning(results)
    if full is None or full.scores.accuracy == 0:
        return results
    return [r.model_copy(update={"relative_score": 100.0 * r.scores.accuracy / full.scores.accuracy}) for r in results]


def _with_interval(value: float, interval: Interval | None) -> str:
    return f"{value:.3f}" if interval is None else f"{value:.3f} [{interval.low:.3f}, {interval.high:.3f}]"


def _rows(comparison: HeldOutComparison) -> list[list[str]]:
    baseline = comparison.majority_baseline
    rows = [[
        "majority class", _with_interval(baseline.accuracy, baseline.accuracy_interval),
        _with_interval(baseline.macro_f1, baseline.macro_f1_interval), "-", "0", "-", "-", "-",
    ]]
    for r in comparison.methods:
        rows.append([
            r.label, _with_interval(r.scores.accuracy, r.scores.accuracy_interval),
            _with_interval(r.scores.macro_f1, r.scores.macro_f1_interval),
            "-" if r.relative_score is None else f"{r.relative_score:.1f}",
            f"{r.trainable_params:,} of {r.total_params:,}", format_bytes(r.peak_memory_bytes), f"{r.wall_time_s:.0f} s", f"{r.steps}",
        ])
    return rows


HEADER = ["method", "accuracy [95 % CI]", "macro-F1 [95 % CI]", "relative score", "trainable params", "peak memory", "train time", "steps"]


def comparison_table(comparison: HeldOutComparison) -> Table:
    table = Table(title=f"{comparison.task} on {comparison.base_model}: {comparison.eval_examples} held-out rows")
    for name in HEADER:
        table.add_column(name)
    for row in _rows(comparison):
        table.add_row(*row)
    return table


def markdown_report(comparison: HeldOutComparison) -> str:
    lines = [
        f"# {comparison.task} comparison on {comparison.base_model}",
        "",
        f"Labels {', '.join(comparison.labels)}; {comparison.train_examples} training rows, {comparison.eval_examples} held-out rows. "
        "Accuracy intervals are Wilson score intervals, macro-F1 intervals percentile bootstraps over the held-out rows; "
        "the relative score is 100 × accuracy / full fine-tuning's accuracy.",
        "",
        "| " + " | ".join(HEADER) + " |",
        "|" + "---|" * len(HEADER),
        *("| " + " | ".join(row) + " |" for row in _rows(comparison)),
        "",
    ]
    return "\n".join(lines)
