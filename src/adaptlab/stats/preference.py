"""Human preference judgments between two models: the candidate's win rate (ties count half) with a bootstrap
interval over the judged items, and the agreement between reviewers (Cohen's kappa).

Cohen's kappa is written here rather than taken from scikit-learn, which adaptlab does not otherwise need: it is
four lines of arithmetic, checked in tests against hand-computed values (and against scikit-learn where installed).
"""

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np

from adaptlab.stats.intervals import Interval, bootstrap

WIN, TIE, LOSS = 1.0, 0.5, 0.0


@dataclass(frozen=True)
class WinRate:
    point: float
    interval: Interval | None  # None with fewer than two judged items
    judgments: int
    items: int


@dataclass(frozen=True)
class Agreement:
    kappa: float
    reviewer_pairs: int  # pairs of reviewers with a defined kappa on the items both judged
    items: int  # items judged by two or more reviewers


def win_rate(item_scores: Sequence[Sequence[float]], *, seed: int = 0) -> WinRate | None:
    """`item_scores[i]`: the score of each judgment of item i (WIN, TIE or LOSS for the candidate).

    The point is the mean over all judgments. Its interval resamples items with all their judgments (a cluster
    bootstrap), so several reviews of one item do not count as independent evidence. None without judgments."""
    judged = [list(scores) for scores in item_scores if len(scores)]
    if not judged:
        return None
    sums = [sum(scores) for scores in judged]
    counts = [len(scores) for scores in judged]
    interval = bootstrap([sums, counts], ratio_of_sums, seed=seed).interval if len(judged) >= 2 else None
    return WinRate(point=sum(sums) / sum(counts), interval=interval, judgments=sum(counts), items=len(judged))


def ratio_of_sums(numerators: np.ndarray, denominators: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.sum(numerators, axis=axis) / np.sum(denominators, axis=axis)


def cohen_kappa(first: Sequence[Hashable], second: Sequence[Hashable]) -> float | None:
    """(observed − chance agreement) / (1 − chance agreement) of two raters' labels on the same items.

    None when chance agreement is total (both raters gave one and the same label throughout): kappa is undefined."""
    if len(first) != len(second) or not first:
        raise ValueError(f"two raters need labels for the same items, got {len(first)} and {len(second)}")
    n = len(first)
    observed = sum(a == b for a, b in zip(first, second)) / n
    chance = sum((list(first).count(label) / n) * (list(second).count(label) / n) for label in set(first) | set(second))
    if chance >= 1.0:
        return None
    return (observed - chance) / (1.0 - chance)


def reviewer_agreement(labels: Mapping[Hashable, Mapping[str, Hashable]]) -> Agreement | None:
    """`labels[item][reviewer]`. Cohen's kappa of every pair of reviewers on the items both judged, averaged with
    weights by those items (Light's kappa, weighted); with exactly two reviewers this is their Cohen's kappa.
    None when no item has two reviews or no pair's kappa is defined."""
    shared = [item for item, by_reviewer in labels.items() if len(by_reviewer) >= 2]
    reviewers = sorted({reviewer for item in shared for reviewer in labels[item]})
    weighted, weights, pairs = 0.0, 0, 0
    for first, second in combinations(reviewers, 2):
        both = [item for item in shared if first in labels[item] and second in labels[item]]
        kappa = cohen_kappa([labels[item][first] for item in both], [labels[item][second] for item in both]) if both else None
        if kappa is not None:
            weighted, weights, pairs = weighted + kappa * len(both), weights + len(both), pairs + 1
    if not pairs:
        return None
    return Agreement(kappa=weighted / weights, reviewer_pairs=pairs, items=len(shared))
