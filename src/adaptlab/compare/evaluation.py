"""One evaluation per trained run, in which each model passes over each text once and that pass feeds every figure.

The bare base the run trained on (4-bit for QLoRA) and the tuned model are loaded side by side. One paired
pass over the reference text and one over the held-out examples (adaptlab.eval.kl) give, from the same
forward passes, the per-example losses that the figures and their intervals come from
(adaptlab.compare.uncertainty) and the forgetting signals: reference loss before and after, and KL from
the base (adaptlab.eval.forgetting). The tuned model then answers the task-metric prompts greedily, its
weights give the diagnostics (adaptlab.adapters.diagnostics), and with --forgetting-tasks lm-eval scores
both models (adaptlab.compare.forgetting). KL needs both distributions at the same positions, so the base
passes over the texts again for every run. The passes run in the precision the run trained in (bf16 autocast for a
bf16 run: about 2.5x faster on a CPU with AMX than float32), so a run is judged as it was trained.

Cached in `evaluation/<run name>.json` by run id and the settings that change the result.
"""

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict

from adaptlab import atomic
from adaptlab.adapters.diagnostics import weight_diagnostics
from adaptlab.compare.config import CompareConfig
from adaptlab.compare.forgetting import forgetting_tasks, read_cache, task_settings
from adaptlab.compare.schema import PerExampleScores
from adaptlab.data import Example
from adaptlab.errors import DataError
from adaptlab.eval import metrics as task_metrics
from adaptlab.eval.forgetting import forgetting_signals
from adaptlab.eval.generation import TaskItem, greedy_answers
from adaptlab.eval.kl import paired_token_sums
from adaptlab.methods import get_method
from adaptlab.models import ResolvedModel, load_causal_lm
from adaptlab.schemas.forgetting import MethodForgetting
from adaptlab.schemas.run_record import RunRecord
from adaptlab.stats.intervals import token_weighted_mean

EVALUATION_CACHE_VERSION = 4  # 4: passes in the run's precision; an older cache is measured again
LOSS_DECIMALS = 6  # per-example losses as stored: compact, and well below any difference an interval can show


class RunEvaluation(BaseModel):
    """What the comparison measured on one trained run; the loss figures are the token-weighted means of `per_example`."""

    model_config = ConfigDict(extra="forbid")

    per_example: PerExampleScores
    eval_loss: float
    reference_loss_before: float
    reference_loss_after: float
    task_metric: float | None = None
    samples: list[dict[str, str]] = []
    forgetting: MethodForgetting


def evaluate_run(
    out: Path, run_name: str, record: RunRecord, base: ResolvedModel, tokenizer, reference_set: list[Example],
    held_out: list[Example], eval_items: list[TaskItem], metric: str | None, config: CompareConfig,
    trained_on: ResolvedModel | None = None, on_examples: Callable[[int], None] | None = None,
) -> RunEvaluation:
    """`trained_on`: the tuned base a hybrid adapter trained on (default `base`). Its forgetting signals compare the
    served model (adapter on the tuned base) with the original `base`; its weight diagnostics are its own LoRA update
    on the tuned base (adaptlab.adapters.diagnostics reads a PEFT model's updates from its layers).
    `on_examples(done)` is called as examples pass (evaluation_examples counts them all)."""
    cache_file = out / "evaluation" / f"{run_name}.json"
    key = {"version": EVALUATION_CACHE_VERSION, "run_id": record.run_id, "precision": record.precision_chosen, "metric": metric,
           **task_settings(config)}
    cached = read_cache(cache_file, key)
    if cached is not None:
        return RunEvaluation.model_validate(cached["result"])
    fine_tuning = get_method(record.method)
    base_model = load_causal_lm(base.path, load_in_4bit=fine_tuning.quantized_base)
    tuned = fine_tuning.load_trained(trained_on or base, out / "runs" / run_name)
    autocast = torch.bfloat16 if record.precision_chosen == "bf16" else None
    reference = paired_token_sums(base_model, tuned, reference_set, tokenizer.pad_token_id, autocast_dtype=autocast, on_batch=on_examples)
    held = paired_token_sums(base_model, tuned, held_out, tokenizer.pad_token_id, autocast_dtype=autocast, on_batch=on_examples)
    reference_before, reference_tokens = per_example_losses(reference.base_loss, reference.tokens)
    reference_after, _ = per_example_losses(reference.tuned_loss, reference.tokens)
    eval_losses, eval_tokens = per_example_losses(held.tuned_loss, held.tokens)
    task_metric_scores, samples = None, []
    if metric:
        predictions = greedy_answers(tuned, tokenizer, [item.prompt_ids for item in eval_items], config.max_new_tokens,
                                     on_batch=on_examples)
        references = [item.reference for item in eval_items]
        task_metric_scores = task_metrics.row_scores(metric, predictions, references)
        samples = [{"reference": r, "prediction": p} for r, p in zip(references, predictions)]
    result = RunEvaluation(
        per_example=PerExampleScores(
            task_metric=task_metric_scores, eval_losses=eval_losses, eval_tokens=eval_tokens,
            reference_losses_before=reference_before, reference_losses_after=reference_after, reference_tokens=reference_tokens,
        ),
        eval_loss=per_token_loss(eval_losses, eval_tokens),
        reference_loss_before=per_token_loss(reference_before, reference_tokens),
        reference_loss_after=per_token_loss(reference_after, reference_tokens),
        task_metric=None if task_metric_scores is None else sum(task_metric_scores) / len(task_metric_scores),
        samples=samples,
        forgetting=MethodForgetting(
            signals=forgetting_signals(reference, held),
            tasks=forgetting_tasks(out, fine_tuning.base_variant, base_model, tuned, tokenizer, config),
            diagnostics=weight_diagnostics(tuned, base_model) if fine_tuning.has_weight_delta else None,
        ),
    )
    atomic.write_json(cache_file, {"key": key, "result": result.model_dump(mode="json")})
    return result


def evaluation_examples(reference_set: list[Example], held_out: list[Example], eval_items: list[TaskItem], metric: str | None) -> int:
    """How many examples evaluate_run passes over (its progress total): reference and held-out, then the metric's prompts."""
    return len(reference_set) + len(held_out) + (len(eval_items) if metric else 0)


def per_example_losses(loss_sums: np.ndarray, tokens: np.ndarray) -> tuple[list[float], list[int]]:
    """Each example's mean loss (rounded to LOSS_DECIMALS) and target tokens; examples without targets left out."""
    kept = tokens > 0
    if not kept.any():
        raise DataError("no example has a target token to measure a loss on")
    return [round(float(s / t), LOSS_DECIMALS) for s, t in zip(loss_sums[kept], tokens[kept])], [int(t) for t in tokens[kept]]


def per_token_loss(losses: list[float], tokens: list[int]) -> float:
    return float(token_weighted_mean(np.asarray(losses), np.asarray(tokens)))
