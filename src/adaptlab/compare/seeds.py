"""--seeds: each method trained several times with different training seeds, reported as one row.

The training seed sets initialisation, data order and dropout (TrainConfig.training_seed); the held-out split
keeps the comparison's --seed, so every run is scored on the same examples. Run k of every method shares
training seed k, which pairs the runs of a method with full fine-tuning's. The first seed's run keeps
`runs/<method>` (a one-seed comparison's folder, so more seeds can be added to it later), a further seed's is
`runs/<method>-seed<training seed>`. A method's quality figures are the means over its seeds; their intervals
resample seeds and examples (adaptlab.compare.uncertainty).
"""

import math
from collections.abc import Sequence
from statistics import fmean

from adaptlab.compare.config import CompareConfig
from adaptlab.compare.schema import MethodResult, SeedRun, forgetting_percent


def training_seeds(config: CompareConfig) -> list[int]:
    """Consecutive seeds from the first run's (--training-seed, else --seed)."""
    return [config.run_seed + index for index in range(config.seeds)]


def run_name(method: str, index: int, training_seed: int) -> str:
    return method if index == 0 else f"{method}-seed{training_seed}"


def seed_overrides(index: int, training_seed: int) -> dict:
    """TrainConfig fields a seed's run changes: none for the first, so its config is a one-seed comparison's."""
    return {} if index == 0 else {"training_seed": training_seed}


def combined_over_seeds(results: Sequence[MethodResult], seeds: Sequence[int]) -> MethodResult:
    """One method's row from its seeds' rows (each with its relative score against full FT's run of the same seed).

    Every seed is scored on the same examples, so the means over seeds are the per-token and per-row means over all
    their examples. One seed: its row as it is.
    """
    if len(results) == 1:
        return results[0]
    first = results[0]
    before = fmean(r.reference_loss_before for r in results)
    after = fmean(r.reference_loss_after for r in results)
    eval_loss = fmean(r.eval_loss for r in results)
    task_metric = None if any(r.task_metric_value is None for r in results) else fmean(r.task_metric_value for r in results)
    return first.model_copy(update={
        "eval_loss": eval_loss,
        "eval_perplexity": math.exp(min(eval_loss, 50.0)),
        "task_metric_value": task_metric,
        "relative_score": None,
        "reference_loss_before": before,
        "reference_loss_after": after,
        "forgetting_percent": forgetting_percent(before, after),
        "per_example": None,
        "seed_runs": [
            SeedRun(training_seed=seed, run_dir=r.run_dir, eval_loss=r.eval_loss, task_metric_value=r.task_metric_value,
                    relative_score=r.relative_score, forgetting_percent=r.forgetting_percent, per_example=r.per_example,
                    forgetting=r.forgetting)
            for seed, r in zip(seeds, results, strict=True)
        ],
    })
