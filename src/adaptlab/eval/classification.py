"""Held-out figures of a classifier: accuracy (Wilson interval) and macro-F1 (bootstrap interval over examples),
and the same for always answering the majority training label, the baseline a classifier must beat."""

from collections import Counter
from collections.abc import Sequence
from functools import partial

import numpy as np
from pydantic import BaseModel

from adaptlab.stats.intervals import Interval, bootstrap
from adaptlab.stats.two_groups import proportion_interval


class ClassificationScores(BaseModel):
    examples: int
    accuracy: float
    accuracy_interval: Interval | None
    macro_f1: float
    macro_f1_interval: Interval | None


def macro_f1(predictions: np.ndarray, gold: np.ndarray, axis: int = -1, classes: Sequence[int] = ()) -> np.ndarray:
    """Unweighted mean over `classes` of each class's F1 (2·TP / (2·TP + FP + FN); 0 for a class never predicted
    nor present), reducing `axis`: vectorised for the bootstrap."""
    scores = []
    for label in classes:
        predicted, actual = predictions == label, gold == label
        true_positives = np.sum(predicted & actual, axis=axis)
        denominator = np.sum(predicted, axis=axis) + np.sum(actual, axis=axis)
        scores.append(np.divide(2 * true_positives, denominator, out=np.zeros(np.shape(denominator)), where=denominator > 0))
    return np.mean(scores, axis=0)


def classification_scores(predictions: Sequence[int], gold: Sequence[int], seed: int = 0) -> ClassificationScores:
    predicted, actual = np.asarray(predictions), np.asarray(gold)
    correct = int(np.sum(predicted == actual))
    statistic = partial(macro_f1, classes=sorted(set(actual.tolist()) | set(predicted.tolist())))
    interval = bootstrap([predicted, actual], statistic, seed=seed).interval if len(actual) >= 2 else None
    return ClassificationScores(
        examples=len(actual),
        accuracy=correct / max(len(actual), 1),
        accuracy_interval=proportion_interval(correct, len(actual)),
        macro_f1=float(statistic(predicted, actual)),
        macro_f1_interval=interval,
    )


def majority_baseline(train_labels: Sequence[int], gold: Sequence[int], seed: int = 0) -> ClassificationScores:
    """The scores of predicting the most frequent training label for every held-out row."""
    majority = Counter(train_labels).most_common(1)[0][0]
    return classification_scores([majority] * len(gold), gold, seed=seed)
