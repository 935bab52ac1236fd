"""`adaptlab compare`: train every method on the same base, data, split, seed and token budget, then
measure each the same way and write the reports.

A comparison folder is data a script can regenerate (as in PEFT's method_comparison):
    compare.yaml            the comparison config as given
    configs/<run>.yaml      each run's exact training config
    runs/<method>/          each run (adaptlab train output); with --seeds N also runs/<method>-seed<s>/ (adaptlab.compare.seeds)
    sweeps/<method>-lr<x>/  learning-rate trials, when --lr-sweep
    evaluation/<run>.json   each run's measurements from one shared pass per model and text (adaptlab.compare.evaluation):
                            per-example scores the intervals are bootstrapped from, answers, forgetting and diagnostics
    report.{md,html,json}
and in each run folder an `evaluation.json` with the run's gate metrics for the registry.
Each method trains in its own process, so its peak memory is its own, and is measured right after it trained:
with --staged the loop stops at the first method that meets --target (adaptlab.compare.staged). Re-running the
same command skips finished runs and resumes interrupted ones. Per-client comparisons on a shared tuned base
(--base-data) are adaptlab.compare.clients.
"""

import hashlib
import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from functools import partial
from pathlib import Path

import yaml
from rich.console import Console

from adaptlab import atomic
from adaptlab.compare.config import (
    LR_SWEEP_BUDGET_FRACTION,
    LR_SWEEP_FACTORS,
    CompareConfig,
)
from adaptlab.compare.costs import default_price
from adaptlab.compare.evaluation import EVALUATION_CACHE_VERSION, evaluate_run, evaluation_examples
from adaptlab.compare.forgetting import check_forgetting_tasks, read_cache
from adaptlab.compare.held_out import HeldOutComparison, compare_held_out
from adaptlab.compare.human_review import earlier_human_reviews
from adaptlab.compare.ray_runs import train_in_parallel
from adaptlab.compare.report import print_comparison_table, write_reports
from adaptlab.compare.settings_checks import MethodSettings, SettingsWarning, settings_warnings
from adaptlab.compare.staged import staged_outcome, target_check
from adaptlab.compare.target import Target, parse_target
from adaptlab.compare.timings import with_comparable_costs
from adaptlab.compare.schema import (
    BaseModelSummary,
    Comparison,
    DataFileSummary,
    DataSummary,
    LrTrial,
    MethodResult,
    PriceUsed,
    ReferenceSet,
    RelativeScoreBasis,
    TaskMetricSetup,
    TunedBaseSummary,
    forgetting_percent,
    method_result_from_run,
    unequal_token_budgets,
    with_relative_scores,
)
from adaptlab.compare.seeds import combined_over_seeds, run_name, seed_overrides, training_seeds
from adaptlab.compare.uncertainty import uncertainty_setup, with_uncertainty
from adaptlab.data import Example, PreparedData, prepare_data
from adaptlab.errors import AdaptlabError, ConfigError
from adaptlab.eval import metrics as task_metrics
from adaptlab.eval.forgetting import reference_examples, reference_text
from adaptlab.eval.generation import task_items
from adaptlab.eval.loss import evaluate_loss
from adaptlab.methods import get_method
from adaptlab.methods.base import FULL_PRECISION_BASE
from adaptlab.models import ResolvedModel, load_causal_lm, load_tokenizer, resolve_model
from adaptlab.objectives import get_objective
from adaptlab.registry.lineage import EVALUATION_FILE, EvaluationFile
from adaptlab.schemas.run_record import RunRecord, read_run_record
from adaptlab.schemas.train_config import TrainConfig
from adaptlab.train.batching import BatchPlan
from adaptlab.train.progress import examples_progress

COMPARE_CONFIG_FILE = "compare.yaml"
RESUMABLE_CHANGES = {"methods", "seeds"}  # re-running with other methods or more seeds reuses the runs already there


def compare(
    config: CompareConfig, console: Console | None = None, tuned_base: TunedBaseSummary | None = None
) -> Comparison | HeldOutComparison:
    """Compare the methods on one data set. `tuned_base`: the hybrid's shared base, already trained (compare/clients.py)."""
    console = console or Console()
    if get_objective(config.task, config.objective).held_out_metrics:
        return compare_held_out(config, console)
    out = Path(config.out)
    check_compare_dir(out, config)
    base = resolve_model(config.model)  # converts a built-in once, before the runs start in parallel-free order
    tokenizer = load_tokenizer(base.path)
    data = prepare_data(config.data, config.eval_data, tokenizer, config)
    contamination_warning = data.info.quality.contamination.warning()
    if contamination_warning:
        console.print(f"[yellow]warning:[/] {contamination_warning}", highlight=False)
    for name, refusal in config.packing_refusals().items():
        console.print(f"packing off for every method, so all see the same tokens: {name}: {refusal}", highlight=False)
    steps = total_steps(config, data.train, tokenizer.pad_token_id)
    eval_items = task_items(metric_examples(config, data, tokenizer), tokenizer)[: config.metric_examples]
    metric = task_metric_name(config, eval_items)
    target = staged_target(config, metric)
    check_forgetting_tasks(config)
    atomic.write_text(out / COMPARE_CONFIG_FILE, yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False))
    tuned_model = None if tuned_base is None else resolve_model(os.path.normpath(out / tuned_base.run_dir))

    seeds = training_seeds(config)
    reference = reference_text(config.reference)
    reference_set = reference_examples(tokenizer, reference)
    measure = partial(measure_run, out=out, base=base, tokenizer=tokenizer, reference_set=reference_set, held_out=data.eval,
                      eval_items=eval_items, metric=metric, config=config)
    first, rows_by_method, checks = None, {}, []
    bases = {method: tuned_model if get_method(method).tuned_base_method else base for method in config.methods}
    if config.launcher == "ray" and target is None and not config.lr_sweep:  # otherwise each run waits for the one before
        runs = [run for method in config.methods
                for run in planned_runs(config, method, config.learning_rate_for(method)[0], bases[method], steps)]
        train_in_parallel([(run, command) for run in runs if (command := training_command(run))], console)
    for method in config.methods:
        trained_on = bases[method]
        learning_rate, source, trials = choose_learning_rate(config, method, steps, out, console, trained_on)
        records = [run_method(run, console) for run in planned_runs(config, method, learning_rate, trained_on, steps)]
        first = first or records[0]
        price = price_used(config, first.environment.hardware)
        console.rule(f"evaluating {get_method(method).label}")
        rows_by_method[method] = [
            measure(run_name(method, index, seed), record, learning_rate, source, trials, trained_on, price, console=console)
            for index, (seed, record) in enumerate(zip(seeds, records))
        ]
        if target is not None:  # judged on the first training seed's run, whose per-example scores the interval needs
            checks.append(target_check(target, rows_by_method[method][0], config.seed))
            console.print(f"{rows_by_method[method][0].label}: {target} {'met' if checks[-1].met else 'not met'} "
                          f"({checks[-1].bound} {checks[-1].value:.4g})")
            if checks[-1].met and not config.force_all:
                break
    hardware = first.environment.hardware
    by_seed = [seed_rows(out, [rows[index] for rows in rows_by_method.values()], base, tokenizer, reference_set, metric)
               for index in range(len(seeds))]
    basis, results = with_relative_scores([combined_over_seeds(method_rows, seeds) for method_rows in zip(*by_seed)])
    results = with_uncertainty(results, basis, seed=config.seed)
    results, timing_notes = with_comparable_costs(results, int(hardware.get("cpu_cores") or 1), bool(hardware.get("gpu")), price.per_hour_usd)
    if len(seeds) == 1:  # the run is the method's row: its evaluation.json gets the row's intervals too
        seed_rows(out, results, base, tokenizer, reference_set, metric)
    comparison = Comparison(
        created_at=datetime.now(timezone.utc),
        base_model=BaseModelSummary(
            spec=base.spec, model_id=base.model_id, weights_sha256=base.weights_sha256,
            weights_size_bytes=sum(f.stat().st_size for f in base.path.glob("*.safetensors")),
        ),
        data=DataSummary(
            files=[DataFileSummary(path=f.path, sha256=f.sha256, rows=f.rows, role=f.role) for f in first.data.files],
            train_examples=first.data.train_examples,
            eval_examples=first.data.eval_examples,
            token_budget=first.metrics.tokens_seen,
        ),
        seed=config.seed,
        training_seeds=seeds,
        reference=ReferenceSet(
            description="adaptlab's built-in general-English text" if config.reference is None else f"user reference text {config.reference}",
            source="builtin" if config.reference is None else str(config.reference),
            sha256=text_sha256(reference),
            tokens=sum(len(e.input_ids) for e in reference_set),
        ),
        task_metric=TaskMetricSetup(name=metric, chosen_by="auto" if config.metric == "auto" else "flag", max_new_tokens=config.max_new_tokens, examples=len(eval_items)) if metric else None,
        relative_score_basis=basis,
        price=price,
        hardware=hardware,
        methods=results,
        uncertainty=uncertainty_setup(seed=config.seed, training_seeds=len(seeds)),
        timing_notes=timing_notes,
        settings_warnings=checked_settings(config, results, first.data.train_target_tokens),
        data_warnings=[contamination_warning] if contamination_warning else [],
        human_reviews=earlier_human_reviews(out),
        staged=None if target is None else staged_outcome(config.methods, target, config.force_all, checks, results, price.per_hour_usd),
        tuned_base=tuned_base if any(get_method(r.method).tuned_base_method for r in results) else None,
    )
    unequal = unequal_token_budgets(comparison)
    if unequal:
        raise AdaptlabError(f"token budgets differ for {unequal}: the runs in {out}/runs were not made with the same settings")
    write_reports(comparison, out)
    print_comparison_table(comparison, console)
    console.print(f"reports: {out / 'report.md'}  {out / 'report.html'}  {out / 'report.json'}")
    return comparison


def measure_run(
    name: str, record: RunRecord, learning_rate: float, source: str, trials: list[LrTrial], trained_on: ResolvedModel,
    price: PriceUsed, *, out: Path, base: ResolvedModel, tokenizer, reference_set: list[Example], held_out: list[Example],
    eval_items: list, metric: str | None, config: CompareConfig, console: Console,
) -> MethodResult:
    """One trained run's row (adaptlab.compare.evaluation: one shared pass per model and text): held-out loss, task
    metric and forgetting against the base form it started from, each with its per-example scores; relative scores
    and intervals are added once every method is measured."""
    with examples_progress(console) as progress:
        task = progress.add_task(f"evaluating {name}", total=evaluation_examples(reference_set, held_out, eval_items, metric))
        evaluation = evaluate_run(out, name, record, base, tokenizer, reference_set, held_out, eval_items, metric, config,
                                  trained_on=trained_on, on_examples=partial(progress.advance, task))
        progress.update(task, completed=evaluation_examples(reference_set, held_out, eval_items, metric))  # also when cached
    return method_result_from_run(
        record, run_dir=str((out / "runs" / name).relative_to(out)), learning_rate=learning_rate, learning_rate_source=source,
        lr_sweep=trials, reference_loss_before=evaluation.reference_loss_before, reference_loss_after=evaluation.reference_loss_after,
        price_per_hour_usd=price.per_hour_usd, task_metric_value=evaluation.task_metric, eval_loss=evaluation.eval_loss,
        per_example=evaluation.per_example, forgetting=evaluation.forgetting,
    )


def seed_rows(out: Path, rows: list[MethodResult], base, tokenizer, reference_set: list[Example], metric: str | None) -> list[MethodResult]:
    """One training seed's rows with relative scores against full FT's run of the same seed; each run folder gets its
    `evaluation.json`."""
    basis, rows = with_relative_scores(rows)
    full_precision_loss = quantization_reference(out, base, tokenizer, reference_set, rows)
    for row in rows:
        atomic.write_json(out / row.run_dir / EVALUATION_FILE, run_evaluation(row, metric, basis, full_precision_loss).model_dump(mode="json"))
    return rows


def staged_target(config: CompareConfig, metric: str | None) -> Target | None:
    """The parsed --target; a task-metric target must name the metric this comparison scores."""
    if config.target is None:
        return None
    target = parse_target(config.target)
    if target.is_task_metric and target.figure != metric:
        scored = f"scores {metric}" if metric else "scores no task metric"
        raise ConfigError(f"--target {config.target}: this comparison {scored}; set --metric {target.figure} or target eval_loss<=X")
    return target


def metric_examples(config: CompareConfig, data: PreparedData, tokenizer) -> list[Example]:
    """The held-out examples with their prompts masked, which is how task items find prompt and answer.
    With --train-on-prompt the training examples carry no mask, so the held-out rows are tokenized again without it."""
    if not config.train_on_prompt:
        return data.eval
    masked = config.model_copy(update={"train_on_prompt": False})
    return prepare_data(config.data, config.eval_data, tokenizer, masked).eval


def task_metric_name(config: CompareConfig, eval_items: list) -> str | None:
    """The task metric to compute: none when asked for none, or when `auto` finds no prompt/answer rows to score.
    A metric named with --metric is never dropped: without rows to score it on, the comparison refuses to start."""
    if config.metric == "none":
        return None
    if not eval_items:
        if config.metric == "auto":
            return None
        raise ConfigError(f"--metric {config.metric}: the held-out rows have no prompt and answer to score; use --metric none")
    return task_metrics.choose_metric([item.reference for item in eval_items]) if config.metric == "auto" else config.metric


def quantization_reference(out: Path, base, tokenizer, reference_set: list[Example], rows: list[MethodResult]) -> float | None:
    """The full-precision base's reference loss, which a method on a 4-bit base's quantization error is measured
    against: from a run on that base's shared pass when there is one, else one pass of the base alone (cached).
    None when no compared method trains on a quantized base."""
    if not any(get_method(row.method).quantized_base for row in rows):
        return None
    measured = [row.reference_loss_before for row in rows if get_method(row.method).base_variant == FULL_PRECISION_BASE]
    if measured:
        return measured[0]
    cache_file = out / "evaluation" / f"{FULL_PRECISION_BASE}.json"
    key = {"version": EVALUATION_CACHE_VERSION, "reference_examples": len(reference_set)}
    cached = read_cache(cache_file, key)
    if cached is not None:
        return cached["reference_loss"]
    loss = evaluate_loss(load_causal_lm(base.path), reference_set, tokenizer.pad_token_id).loss
    atomic.write_json(cache_file, {"key": key, "reference_loss": loss})
    return loss


def run_evaluation(result: MethodResult, metric: str | None, basis: RelativeScoreBasis | None, full_precision_loss: float | None) -> EvaluationFile:
    """A run's `evaluation.json`: what the comparison measured beyond run.json, as gate metrics for the registry."""
    metrics = {
        "relative_score": result.relative_score,
        "forgetting_percent": result.forgetting_percent,
        "reference_loss_before": result.reference_loss_before,
        "reference_loss_after": result.reference_loss_after,
    }
    if metric:
        metrics[metric] = result.task_metric_value
    if get_method(result.method).quantized_base:
        metrics["quantization_error_percent"] = forgetting_percent(full_precision_loss, result.reference_loss_before)
    intervals = {  # unset before with_uncertainty (a run of several seeds has no interval of its own)
        "relative_score": result.intervals.relative_score,
        "forgetting_percent": result.intervals.forgetting_percent,
        **({metric: result.intervals.task_metric} if metric else {}),
    }
    return EvaluationFile(
        metrics={name: value for name, value in metrics.items() if value is not None},
        measured_by="adaptlab compare",
        relative_score_basis=basis,
        intervals={name: interval for name, interval in intervals.items() if interval is not None},
    )


def checked_settings(config: CompareConfig, results: list[MethodResult], train_target_tokens: int) -> list[SettingsWarning]:
    """The settings warnings for what this comparison trained (adaptlab.compare.settings_checks)."""
    methods = [MethodSettings(r.label, get_method(r.method).lora_guidance_applies, r.learning_rate, r.trainable_params) for r in results]
    return settings_warnings(methods, config.target_modules, train_target_tokens, config.micro_batch_size * config.grad_accum)


def check_compare_dir(out: Path, config: CompareConfig) -> None:
    """Re-running into the same folder resumes; a different config there is refused, not mixed in."""
    stored = out / COMPARE_CONFIG_FILE
    if stored.is_file():
        previous = CompareConfig.model_validate(yaml.safe_load(stored.read_text()))
        if previous.model_dump(exclude=RESUMABLE_CHANGES) != config.model_dump(exclude=RESUMABLE_CHANGES):
            raise ConfigError(f"{out} holds a comparison with other settings ({stored}); choose another --out")
    elif out.exists() and set(out.iterdir()) - input_entries(out, config):
        raise ConfigError(f"{out}: folder is not empty and holds no comparison; choose another --out")


def input_entries(out: Path, config: CompareConfig) -> set[Path]:
    """Top-level entries of `out` that hold the comparison's own data files (the demo writes its data there)."""
    entries = set()
    for file in [*config.data, *config.eval_data, *config.base_data]:
        try:
            entries.add(out / Path(file).resolve().relative_to(out.resolve()).parts[0])
        except ValueError:
            continue
    return entries


def total_steps(config: CompareConfig, examples, pad_token_id: int) -> int:
    """The shared step count, so every method sees the same tokens (same data order, same batches)."""
    plan = BatchPlan(config.micro_batch_size, config.grad_accum, 1, config.packing, config.max_seq_len, pad_token_id)
    per_epoch = plan.steps_per_epoch(examples)
    if per_epoch == 0 and not config.max_steps:
        raise ConfigError(f"{len(examples)} training examples are fewer than one optimizer step needs; lower --micro-batch-size or --grad-accum")
    return config.max_steps or per_epoch * config.epochs


def choose_learning_rate(
    config: CompareConfig, method: str, steps: int, out: Path, console: Console, trained_on: ResolvedModel,
) -> tuple[float, str, list[LrTrial]]:
    learning_rate, source = config.learning_rate_for(method)
    if not config.lr_sweep:
        return learning_rate, source, []
    trial_steps = max(1, int(steps * LR_SWEEP_BUDGET_FRACTION))
    trials = []
    for factor in LR_SWEEP_FACTORS:
        candidate = learning_rate * factor
        trial = config.sweep_trial_config(method, candidate, out / "sweeps" / f"{method}-lr{candidate:.2e}", trial_steps)
        record = run_method(trial.model_copy(update={"model": trained_on.spec}), console)
        trials.append(LrTrial(learning_rate=candidate, eval_loss=record.metrics.eval_loss, tokens_seen=record.metrics.tokens_seen))
    best = min(trials, key=lambda trial: trial.eval_loss)
    return best.learning_rate, "sweep", trials


def planned_runs(config: CompareConfig, method: str, learning_rate: float, trained_on: ResolvedModel, steps: int) -> list[TrainConfig]:
    """The training configs of one method: one run per training seed, all with the same step budget."""
    return [
        config.train_config(method, learning_rate, Path(config.out) / "runs" / run_name(method, index, seed), max_steps=steps,
                            model=trained_on.spec, **seed_overrides(index, seed))
        for index, seed in enumerate(training_seeds(config))
    ]


def training_command(train_config: TrainConfig) -> list[str] | None:
    """Write the run's config beside the runs and return the command that trains it: from the start, or resuming an
    interrupted run; None when it has finished."""
    run_dir = Path(train_config.out)
    config_file = run_dir.parent.parent / "configs" / f"{run_dir.name}.yaml"
    atomic.write_text(config_file, yaml.safe_dump(train_config.model_dump(mode="json"), sort_keys=False))
    status = run_status(run_dir)
    if status == "completed":
        return None
    command = [sys.executable, "-m", "adaptlab", "train"]
    return command + (["--resume", "--out", str(run_dir)] if status == "running" else ["--config", str(config_file)])


def run_method(train_config: TrainConfig, console: Console) -> RunRecord:
    """Train in a child process (its own peak memory); skip a finished run, resume an interrupted one."""
    run_dir = Path(train_config.out)
    command = training_command(train_config)
    if command is None:
        console.print(f"[green]✓[/] {run_dir} already trained; reusing it")
        return read_run_record(run_dir)
    console.rule(f"{train_config.method}  (lr {get_method(train_config.method).learning_rate(train_config):g})")
    console.file.flush()
    result = subprocess.run(command)
    if result.returncode != 0:
        raise AdaptlabError(
            f"training {train_config.method} failed (exit {result.returncode}); see its output above. "
            f"Run the same command again to resume from {run_dir}."
        )
    return read_run_record(run_dir)


def run_status(run_dir: Path) -> str | None:
    try:
        return json.loads((run_dir / "run.json").read_text())["status"]
    except (OSError, ValueError, KeyError):
        return None


def price_used(config: CompareConfig, hardware: dict) -> PriceUsed:
    """--price-per-hour, else the documented default for the hardware the runs recorded."""
    if config.price_per_hour is not None:
        return PriceUsed(per_hour_usd=config.price_per_hour, source="--price-per-hour")
    return price_from_default(hardware)


def price_from_default(hardware: dict) -> PriceUsed:
    price = default_price(hardware)
    return PriceUsed(per_hour_usd=price.per_hour_usd, source=price.source)


def text_sha256(text: str) -> str:
    """SHA-256 of the text's UTF-8 bytes."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
