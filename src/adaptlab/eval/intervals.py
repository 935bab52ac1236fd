"""Intervals for the figures compare reports: a percentile bootstrap over whole examples (scipy.stats.bootstrap).

Every interval in the forgetting signals comes from `bootstrap_estimate`, so a shared statistics module can
replace this one function. Examples are resampled as units: a per-token mean resamples reference chunks (or
held-out examples) with their token counts, and paired samples (before/after on the same chunks) stay paired.
"""

from collections.abc import Callable

import numpy as np
from scipy import stats

from adaptlab.schemas.forgetting import CONFIDENCE_LEVEL, Estimate

BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0


def bootstrap_estimate(statistic: Callable[..., np.ndarray], *samples, level: float = CONFIDENCE_LEVEL) -> Estimate:
    """`statistic(*samples, axis=-1)` on the samples, with a seeded percentile-bootstrap interval over examples.

    The samples are paired: one resample draws the same example indices from each.
    """
    arrays = [np.asarray(sample, dtype=np.float64) for sample in samples]
    value = float(statistic(*arrays, axis=-1))
    count = len(arrays[0])
    if count < 2:
        return Estimate(value=value, level=level, examples=count)
    if all(np.all(array == array[0]) for array in arrays):
        return Estimate(value=value, low=value, high=value, level=level, examples=count)
    result = stats.bootstrap(
        arrays, statistic, paired=True, vectorized=True, axis=-1, confidence_level=level,
        n_resamples=BOOTSTRAP_RESAMPLES, method="percentile", rng=np.random.default_rng(BOOTSTRAP_SEED),
    )
    return Estimate(value=value, low=float(result.confidence_interval.low), high=float(result.confidence_interval.high), level=level, examples=count)


def per_token_mean(sums, tokens) -> Estimate:
    """Σ sums / Σ tokens over examples (a per-token mean), resampling examples with their token counts."""
    return bootstrap_estimate(_ratio, sums, tokens)


def mean(values) -> Estimate:
    """The mean of per-example values (e.g. 0/1 accuracy per task document)."""
    return bootstrap_estimate(np.mean, values)


def relative_change_percent(before, after) -> Estimate:
    """100 × (Σ after − Σ before) / Σ before over paired examples: forgetting from per-chunk loss sums."""
    return bootstrap_estimate(_relative_change_percent, before, after)


def _ratio(sums, tokens, axis=-1):
    return np.sum(sums, axis=axis) / np.sum(tokens, axis=axis)


def _relative_change_percent(before, after, axis=-1):
    total_before = np.sum(before, axis=axis)
    return 100.0 * (np.sum(after, axis=axis) - total_before) / total_before
