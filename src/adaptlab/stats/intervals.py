"""Percentile bootstrap intervals over examples (scipy.stats.bootstrap), seeded so reports are reproducible.

Several samples given together are *paired*: example i of each is resampled together, so a method
and its reference are judged on the same resampled examples.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy import stats

RESAMPLES = 2000
LEVEL = 0.95

Statistic = Callable[..., np.ndarray]
Axis = int | tuple[int, ...]  # the examples' axis, or (seeds, examples) in adaptlab.stats.seed_bootstrap


class Interval(BaseModel):
    """A confidence interval; `level` 0.95 is a 95 % interval."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    low: float = Field(allow_inf_nan=False)
    high: float = Field(allow_inf_nan=False)
    level: float = Field(LEVEL, gt=0, lt=1)

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high


@dataclass(frozen=True)
class Bootstrap:
    """The statistic on the data, its interval, and the resampled values behind it."""

    point: float
    interval: Interval
    distribution: np.ndarray

    @property
    def standard_error(self) -> float:
        return float(np.std(self.distribution, ddof=1))


def bootstrap(
    samples: Sequence[Sequence[float]],
    statistic: Statistic,
    *,
    resamples: int = RESAMPLES,
    level: float = LEVEL,
    seed: int = 0,
    paired: bool = True,
) -> Bootstrap:
    """Interval of `statistic(*samples, axis=-1)` with the examples resampled `resamples` times (paired across
    samples; with `paired=False` each sample is resampled on its own, keeping its size).

    `statistic` must be vectorised: it reduces the last axis. Needs at least two examples per sample.
    """
    arrays = [np.asarray(sample, dtype=float) for sample in samples]
    lengths = {len(array) for array in arrays}
    if paired and len(lengths) != 1:
        raise ValueError(f"paired samples must have the same length, got {sorted(lengths)}")
    if min(lengths) < 2:
        raise ValueError("a bootstrap interval needs at least two examples")
    result = stats.bootstrap(
        arrays, statistic, n_resamples=resamples, paired=paired, vectorized=True, axis=-1,
        confidence_level=level, method="percentile", rng=np.random.default_rng(seed),
    )
    low, high = (float(bound) for bound in result.confidence_interval)
    if not (np.isfinite(low) and np.isfinite(high)):
        raise ValueError("the statistic is not finite on some resamples (e.g. a ratio to a mean of zero)")
    return Bootstrap(point=float(statistic(*arrays, axis=-1)), interval=Interval(low=low, high=high, level=level),
                     distribution=result.bootstrap_distribution)


def mean(values: np.ndarray, axis: Axis = -1) -> np.ndarray:
    return np.mean(values, axis=axis)


def token_weighted_mean(losses: np.ndarray, tokens: np.ndarray, axis: Axis = -1) -> np.ndarray:
    """Per-token mean from per-example mean losses and token counts: what a held-out loss is."""
    return np.sum(losses * tokens, axis=axis) / np.sum(tokens, axis=axis)
