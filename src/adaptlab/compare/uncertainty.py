"""Intervals and paired tests for a comparison's quality figures, from each method's per-example scores.

Every figure is bootstrapped over the same resampled examples (one bootstrap seed), so a method and full
fine-tuning are always judged on the same rows: the relative score and the test against full FT are paired.
With several training seeds (--seeds) each figure is a seeds × examples table and the bootstrap resamples
seeds and examples together (adaptlab.stats.seed_bootstrap), still paired on both: the intervals then
include the run-to-run spread. One seed keeps the example bootstrap (adaptlab.stats.intervals).
"""

from collections.abc import Sequence

import numpy as np

from adaptlab.compare.schema import (
    Intervals,
    MethodResult,
    PerExampleScores,
    RelativeScoreBasis,
    UncertaintySetup,
    VersusFull,
    full_fine_tuning,
)
from adaptlab.stats.intervals import (
    LEVEL,
    RESAMPLES,
    Axis,
    Bootstrap,
    bootstrap,
    mean,
    token_weighted_mean,
)
from adaptlab.stats.paired_tests import PairedTest, mcnemar_exact, paired_bootstrap_test
from adaptlab.stats.sample_size import examples_to_resolve
from adaptlab.stats.seed_bootstrap import seed_and_example_bootstrap

RESOLVE_GAP_POINTS = 3.0  # the relative-score gap `recommend` says how many examples would resolve


def uncertainty_setup(seed: int, training_seeds: int = 1) -> UncertaintySetup:
    return UncertaintySetup(level=LEVEL, resamples=RESAMPLES, bootstrap_seed=seed,
                            covers="examples_and_seeds" if training_seeds > 1 else "examples")


def with_uncertainty(results: Sequence[MethodResult], basis: RelativeScoreBasis | None, seed: int) -> list[MethodResult]:
    """The results with `intervals` and `versus_full` filled in from their per-example scores (every seed's)."""
    full = full_fine_tuning(results)
    updated = []
    for r in results:
        scores = r.seed_scores()
        relative = None if scores is None or r is full else relative_score_bootstrap(scores, full, basis, seed)
        updated.append(r.model_copy(update={"intervals": intervals(scores, relative, seed),
                                            "versus_full": versus_full(scores, full, basis, relative, seed)}))
    return updated


def intervals(scores: list[PerExampleScores] | None, relative: Bootstrap | None, seed: int) -> Intervals:
    """Every figure's interval; `relative` is the method's paired relative-score bootstrap (None for full FT itself)."""
    if scores is None:
        return Intervals()
    task_metric = None if any(s.task_metric is None for s in scores) else _bootstrap([_column(scores, "task_metric")], mean, seed)
    eval_loss = _bootstrap([_column(scores, "eval_losses"), _column(scores, "eval_tokens")], token_weighted_mean, seed)
    forgetting = _bootstrap([_column(scores, name) for name in ("reference_losses_before", "reference_losses_after", "reference_tokens")],
                            forgetting_statistic, seed)
    return Intervals(**{
        name: None if figure is None else figure.interval
        for name, figure in (("task_metric", task_metric), ("eval_loss", eval_loss), ("relative_score", relative),
                             ("forgetting_percent", forgetting))
    })


def versus_full(
    scores: list[PerExampleScores] | None, full: MethodResult | None, basis: RelativeScoreBasis | None, relative: Bootstrap | None,
    seed: int,
) -> VersusFull | None:
    """Exact McNemar when there is one seed and the task metric is 0/1 per row, else the paired bootstrap of the
    relative score against 100 (over seeds and examples with several seeds). The examples that would resolve the gap
    come from the examples' share of the uncertainty: more examples do not shrink the spread across seeds."""
    if scores is None or relative is None:
        return None
    full_scores = full.seed_scores()
    examples = _examples(scores[0], basis)
    test: PairedTest
    if basis == "task_metric" and len(scores) == 1 and _binary(scores[0].task_metric) and _binary(full_scores[0].task_metric):
        test = mcnemar_exact(scores[0].task_metric, full_scores[0].task_metric)
    else:
        test = paired_bootstrap_test(relative.point - 100.0, relative.distribution - 100.0, examples)
    examples_only = relative if len(scores) == 1 else relative_score_bootstrap(scores, full, basis, seed, resample_seeds=False)
    resolve = None if examples_only is None else examples_to_resolve(examples_only.standard_error, examples, RESOLVE_GAP_POINTS)
    return VersusFull(test=test, gap_points=RESOLVE_GAP_POINTS, seeds=len(scores), examples_to_resolve_gap=resolve)


def relative_score_bootstrap(
    scores: list[PerExampleScores], full: MethodResult | None, basis: RelativeScoreBasis | None, seed: int, resample_seeds: bool = True,
) -> Bootstrap | None:
    """The relative score with the method and full FT resampled on the same examples (and, with several seeds, on the
    same seeds: run k of each shares its training seed); None where it cannot be computed."""
    full_scores = None if full is None else full.seed_scores()
    if full_scores is None or basis is None or len(full_scores) != len(scores):
        return None
    if basis == "task_metric":
        if any(s.task_metric is None for s in [*scores, *full_scores]):
            return None
        samples = [_column(scores, "task_metric"), _column(full_scores, "task_metric")]
        statistic = relative_on_metric
    else:
        samples = [_column(scores, "eval_losses"), _column(full_scores, "eval_losses"), _column(scores, "eval_tokens")]
        statistic = relative_on_loss
    return _bootstrap(samples, statistic, seed, resample_seeds)


def relative_on_metric(method: np.ndarray, full: np.ndarray, axis: Axis = -1) -> np.ndarray:
    """100 × metric(method) / metric(full), as adaptlab.compare.schema.relative_scores."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return 100.0 * mean(method, axis) / mean(full, axis)


def relative_on_loss(method_losses: np.ndarray, full_losses: np.ndarray, tokens: np.ndarray, axis: Axis = -1) -> np.ndarray:
    """100 × exp(loss(full) − loss(method)), both per-token losses over the same examples."""
    return 100.0 * np.exp(token_weighted_mean(full_losses, tokens, axis) - token_weighted_mean(method_losses, tokens, axis))


def forgetting_statistic(before: np.ndarray, after: np.ndarray, tokens: np.ndarray, axis: Axis = -1) -> np.ndarray:
    """100 × (after − before) / before of the per-token reference loss, as adaptlab.compare.schema.forgetting_percent."""
    loss_before = token_weighted_mean(before, tokens, axis)
    return 100.0 * (token_weighted_mean(after, tokens, axis) - loss_before) / loss_before


def _bootstrap(samples: list[list[list[float]]], statistic, seed: int, resample_seeds: bool = True) -> Bootstrap | None:
    """The bootstrap of samples given as one row per seed: over examples with one seed, over seeds and examples with
    several; None where it is undefined (one example, a ratio to zero, tables of unequal shapes)."""
    try:
        if len(samples[0]) == 1:
            return bootstrap([rows[0] for rows in samples], statistic, seed=seed)
        return seed_and_example_bootstrap(samples, statistic, seed=seed, resample_seeds=resample_seeds)
    except ValueError:
        return None


def _column(scores: list[PerExampleScores], name: str) -> list[list[float]]:
    """One per-example field of every seed: a seeds × examples table."""
    return [getattr(seed_scores, name) for seed_scores in scores]


def _examples(scores: PerExampleScores, basis: RelativeScoreBasis | None) -> int:
    return len(scores.task_metric) if basis == "task_metric" and scores.task_metric is not None else len(scores.eval_losses)


def _binary(values: list[float] | None) -> bool:
    return values is not None and all(v in (0.0, 1.0) for v in values)

