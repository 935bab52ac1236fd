"""Two independent groups (e.g. the stable and candidate arms of a canary): each group's figure with a
closed-form or distribution-free interval, and a two-sided test of the difference between the groups.

Unlike intervals.py and paired_tests.py, nothing here is paired: the groups hold different requests.
The test per kind of figure:
- a rate (errors, positive feedback): Fisher's exact test on the 2×2 table, exact at any sample size;
- a mean of scores: Welch's t-test (no equal-variance assumption; the figure shown is a mean);
- a latency or token count (skewed, heavy-tailed): the Mann-Whitney U test of a shift between the
  distributions; the difference reported with it is the difference of the medians.
Group `a` is the reference, `b` the one judged: every difference is b − a. scipy does the numerics.
"""

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy import stats

from adaptlab.stats.intervals import LEVEL, Interval
from adaptlab.stats.paired_tests import ALPHA


class GroupTest(BaseModel):
    """A two-sided test of b − a; `significant` when `p_value` < `alpha`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    test: Literal["fisher_exact", "welch_t", "mann_whitney_u"]
    difference: float = Field(allow_inf_nan=False, description="b − a (rates, means, or medians for Mann-Whitney U)")
    p_value: float = Field(ge=0, le=1)
    alpha: float = Field(ALPHA, gt=0, lt=1)

    @property
    def significant(self) -> bool:
        return self.p_value < self.alpha


def proportion_interval(successes: int, trials: int, level: float = LEVEL) -> Interval | None:
    """Wilson score interval of successes / trials (good coverage near 0 and 1, unlike the normal one); None without trials."""
    if trials == 0:
        return None
    low, high = stats.binomtest(successes, trials).proportion_ci(confidence_level=level, method="wilson")
    return Interval(low=float(low), high=float(high), level=level)


def mean_interval(values: Sequence[float], level: float = LEVEL) -> Interval | None:
    """Student's t interval of the mean (mean ± t(n − 1) · s / √n); None under two values."""
    array = np.asarray(values, dtype=float)
    if array.size < 2:
        return None
    if np.all(array == array[0]):
        return Interval(low=float(array[0]), high=float(array[0]), level=level)
    low, high = stats.ttest_1samp(array, 0.0).confidence_interval(confidence_level=level)
    return Interval(low=float(low), high=float(high), level=level)


def quantile_interval(values: Sequence[float], quantile: float, level: float = LEVEL) -> Interval | None:
    """Distribution-free interval of a quantile from order statistics (binomial), e.g. of the p95 latency;
    None while there are too few values for one at this level (e.g. under 59 for a p95's upper bound)."""
    array = np.asarray(values, dtype=float)
    if array.size == 0:
        return None
    interval = stats.quantile_test(array, q=float(np.median(array)), p=quantile).confidence_interval(confidence_level=level)
    low, high = float(interval.low), float(interval.high)
    return Interval(low=low, high=high, level=level) if math.isfinite(low) and math.isfinite(high) else None


def fisher_exact_test(successes_a: int, trials_a: int, successes_b: int, trials_b: int, alpha: float = ALPHA) -> GroupTest | None:
    """Is b's rate different from a's? Fisher's exact test; None while a group is empty."""
    if trials_a == 0 or trials_b == 0:
        return None
    table = [[successes_a, trials_a - successes_a], [successes_b, trials_b - successes_b]]
    p_value = float(stats.fisher_exact(table).pvalue)
    return GroupTest(
        test="fisher_exact", difference=successes_b / trials_b - successes_a / trials_a, p_value=min(p_value, 1.0), alpha=alpha
    )


def welch_t_test(a: Sequence[float], b: Sequence[float], alpha: float = ALPHA) -> GroupTest | None:
    """Is b's mean different from a's? Welch's t-test; None under two values in a group."""
    first, second = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if first.size < 2 or second.size < 2:
        return None
    difference = float(second.mean() - first.mean())
    if np.ptp(first) == 0 and np.ptp(second) == 0:  # no spread: t is undefined, the difference is certain
        p_value = 1.0 if difference == 0 else 0.0
    else:
        p_value = float(stats.ttest_ind(second, first, equal_var=False).pvalue)
    return GroupTest(test="welch_t", difference=difference, p_value=p_value, alpha=alpha)


def mann_whitney_test(a: Sequence[float], b: Sequence[float], alpha: float = ALPHA) -> GroupTest | None:
    """Are b's values shifted from a's? Mann-Whitney U (ties handled); None while a group is empty."""
    first, second = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if first.size == 0 or second.size == 0:
        return None
    difference = float(np.median(second) - np.median(first))
    if np.ptp(np.concatenate([first, second])) == 0:  # all equal: no shift at all
        return GroupTest(test="mann_whitney_u", difference=difference, p_value=1.0, alpha=alpha)
    p_value = float(stats.mannwhitneyu(second, first, alternative="two-sided").pvalue)
    return GroupTest(test="mann_whitney_u", difference=difference, p_value=p_value, alpha=alpha)
