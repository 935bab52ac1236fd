"""Intervals and paired tests for a comparison's quality figures, from each method's per-example scores.

Every figure is bootstrapped over the same resampled examples (one seed), so a method and full
fine-tuning are always judged on the same rows: the relative score and the test against full FT are paired.
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
    Bootstrap,
    bootstrap,
    mean,
    token_weighted_mean,
)
from adaptlab.stats.paired_tests import PairedTest, mcnemar_exact, paired_bootstrap_test
from adaptlab.stats.sample_size import examples_to_resolve

RESOLVE_GAP_POINTS = 3.0  # the relative-score gap `recommend` says how many examples would resolve


def uncertainty_setup(seed: int) -> UncertaintySetup:
    return UncertaintySetup(level=LEVEL, resamples=RESAMPLES, bootstrap_seed=seed)


def with_uncertainty(results: Sequence[MethodResult], basis: RelativeScoreBasis | None, seed: int) -> list[MethodResult]:
    """The results with `intervals` and `versus_full` filled in from their per-example scores."""
    full = full_fine_tuning(results)
    updated = []
    for r in results:
        relative = None if r.per_example is None or r is full else relative_score_bootstrap(r.per_example, full, basis, seed)
        updated.append(r.model_copy(update={"intervals": intervals(r.per_example, relative, seed),
                                            "versus_full": versus_full(r.per_example, full, basis, relative)}))
    return updated


def intervals(scores: PerExampleScores | None, relative: Bootstrap | None, seed: int) -> Intervals:
    """Every figure's interval; `relative` is the method's paired relative-score bootstrap (None for full FT itself)."""
    if scores is None:
        return Intervals()
    task_metric = None if scores.task_metric is None else _bootstrap([scores.task_metric], mean, seed)
    eval_loss = _bootstrap([scores.eval_losses, scores.eval_tokens], token_weighted_mean, seed)
    forgetting = _bootstrap([scores.reference_losses_before, scores.reference_losses_after, scores.reference_tokens],
                            forgetting_statistic, seed)
    return Intervals(**{
        name: None if figure is None else figure.interval
        for name, figure in (("task_metric", task_metric), ("eval_loss", eval_loss), ("relative_score", relative),
                             ("forgetting_percent", forgetting))
    })


def versus_full(
    scores: PerExampleScores | None, full: MethodResult | None, basis: RelativeScoreBasis | None, relative: Bootstrap | None,
) -> VersusFull | None:
    """Exact McNemar when the task metric is 0/1 per row, else the paired bootstrap of the relative score against 100."""
    if scores is None or relative is None:
        return None
    examples = _examples(scores, basis)
    test: PairedTest
    if basis == "task_metric" and _binary(scores.task_metric) and _binary(full.per_example.task_metric):
        test = mcnemar_exact(scores.task_metric, full.per_example.task_metric)
    else:
        test = paired_bootstrap_test(relative.point - 100.0, relative.distribution - 100.0, examples)
    return VersusFull(test=test, gap_points=RESOLVE_GAP_POINTS,
                      examples_to_resolve_gap=examples_to_resolve(relative.standard_error, examples, RESOLVE_GAP_POINTS))


def relative_score_bootstrap(
    scores: PerExampleScores, full: MethodResult | None, basis: RelativeScoreBasis | None, seed: int
) -> Bootstrap | None:
    """The relative score with the method and full FT resampled on the same examples; None where it cannot be computed."""
    if full is None or full.per_example is None or basis is None:
        return None
    if basis == "task_metric":
        if scores.task_metric is None or full.per_example.task_metric is None:
            return None
        samples = [scores.task_metric, full.per_example.task_metric]
        statistic = relative_on_metric
    else:
        samples = [scores.eval_losses, full.per_example.eval_losses, scores.eval_tokens]
        statistic = relative_on_loss
    return _bootstrap(samples, statistic, seed)


def relative_on_metric(method: np.ndarray, full: np.ndarray, axis: int = -1) -> np.ndarray:
    """100 × metric(method) / metric(full), as adaptlab.compare.schema.relative_scores."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return 100.0 * mean(method, axis) / mean(full, axis)


def relative_on_loss(method_losses: np.ndarray, full_losses: np.ndarray, tokens: np.ndarray, axis: int = -1) -> np.ndarray:
    """100 × exp(loss(full) − loss(method)), both per-token losses over the same examples."""
    return 100.0 * np.exp(token_weighted_mean(full_losses, tokens, axis) - token_weighted_mean(method_losses, tokens, axis))


def forgetting_statistic(before: np.ndarray, after: np.ndarray, tokens: np.ndarray, axis: int = -1) -> np.ndarray:
    """100 × (after − before) / before of the per-token reference loss, as adaptlab.compare.schema.forgetting_percent."""
    loss_before = token_weighted_mean(before, tokens, axis)
    return 100.0 * (token_weighted_mean(after, tokens, axis) - loss_before) / loss_before


def _bootstrap(samples, statistic, seed: int) -> Bootstrap | None:
    """The bootstrap, or None where it is undefined (one example, a ratio to zero)."""
    try:
        return bootstrap(samples, statistic, seed=seed)
    except ValueError:
        return None


def _examples(scores: PerExampleScores, basis: RelativeScoreBasis | None) -> int:
    return len(scores.task_metric) if basis == "task_metric" and scores.task_metric is not None else len(scores.eval_losses)


def _binary(values: list[float] | None) -> bool:
    return values is not None and all(v in (0.0, 1.0) for v in values)

