"""Task metrics on generated answers: exact match, contains-answer, ROUGE-L and label accuracy.

Every metric scores one (prediction, reference) pair in [0, 1]; `score` averages over a set.
`choose_metric` is the `--metric auto` rule:
- **accuracy** when the references look like labels: at most `MAX_LABELS` distinct answers and each
  distinct answer appears on average at least `MIN_ROWS_PER_LABEL` times;
- **exact_match** when answers are short (median at most `SHORT_ANSWER_WORDS` words);
- **rouge_l** otherwise (free text).
"""

import re
import statistics
import string
from collections.abc import Callable, Sequence
from typing import Literal

from adaptlab.errors import DataError

MetricName = Literal["exact_match", "contains", "rouge_l", "accuracy"]
MAX_LABELS = 20
MIN_ROWS_PER_LABEL = 4
SHORT_ANSWER_WORDS = 5

_WORD = re.compile(r"\w+", re.UNICODE)


def normalize_answer(text: str) -> str:
    """Lower-case, collapse whitespace, drop trailing punctuation: "  Paris. " -> "paris"."""
    return " ".join(text.lower().split()).rstrip(string.punctuation + " ")


def exact_match(prediction: str, reference: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(reference))


def contains_answer(prediction: str, reference: str) -> float:
    """1 when the normalised reference appears in the normalised prediction (on word boundaries)."""
    answer = normalize_answer(reference)
    if not answer:
        return float(not normalize_answer(prediction))
    pattern = r"(?<!\w)" + re.escape(answer) + r"(?!\w)"
    return float(re.search(pattern, normalize_answer(prediction)) is not None)


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F1 over lower-cased word tokens: LCS length against both lengths (Lin 2004, β = 1).

    Two empty texts score 1; one empty text scores 0.
    """
    predicted, expected = _WORD.findall(prediction.lower()), _WORD.findall(reference.lower())
    if not predicted or not expected:
        return float(not predicted and not expected)
    common = _lcs_length(predicted, expected)
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(expected)
    return 2 * precision * recall / (precision + recall)


def _lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    previous = [0] * (len(b) + 1)
    for token in a:
        current = [0]
        for j, other in enumerate(b, start=1):
            current.append(previous[j - 1] + 1 if token == other else max(previous[j], current[j - 1]))
        previous = current
    return previous[-1]


def predicted_label(prediction: str, labels: Sequence[str]) -> str | None:
    """The label a generated answer names: the normalised answer itself, or the longest label it starts with."""
    answer = normalize_answer(prediction)
    normalized = {normalize_answer(label) for label in labels}
    if answer in normalized:
        return answer
    starts = [label for label in normalized if label and re.match(re.escape(label) + r"(?!\w)", answer)]
    return max(starts, key=len) if starts else None


def accuracy(predictions: Sequence[str], references: Sequence[str]) -> float:
    """Share of rows whose predicted label (among the references' labels) is the reference label."""
    hits = _accuracy_rows(predictions, references)
    return sum(hits) / len(hits)


def _accuracy_rows(predictions: Sequence[str], references: Sequence[str]) -> list[float]:
    _check_pairs(predictions, references)
    labels = sorted(set(references))
    return [float(predicted_label(p, labels) == normalize_answer(r)) for p, r in zip(predictions, references, strict=True)]


PAIR_METRICS: dict[str, Callable[[str, str], float]] = {
    "exact_match": exact_match,
    "contains": contains_answer,
    "rouge_l": rouge_l,
}


def row_scores(metric: MetricName, predictions: Sequence[str], references: Sequence[str]) -> list[float]:
    """`metric` of each row, in [0, 1]: what a bootstrap over examples resamples (adaptlab.stats)."""
    if metric == "accuracy":
        return _accuracy_rows(predictions, references)
    _check_pairs(predictions, references)
    pair_metric = PAIR_METRICS[metric]
    return [pair_metric(p, r) for p, r in zip(predictions, references, strict=True)]


def score(metric: MetricName, predictions: Sequence[str], references: Sequence[str]) -> float:
    """Mean of `metric` over the rows, in [0, 1]."""
    scores = row_scores(metric, predictions, references)
    return sum(scores) / len(scores)


def choose_metric(references: Sequence[str]) -> MetricName:
    """The `--metric auto` rule (see the module docstring)."""
    if not references:
        raise DataError("no reference answers to choose a task metric from; the eval split is empty")
    distinct = {normalize_answer(r) for r in references}
    if len(distinct) <= MAX_LABELS and len(references) >= MIN_ROWS_PER_LABEL * len(distinct):
        return "accuracy"
    if statistics.median(len(_WORD.findall(r)) for r in references) <= SHORT_ANSWER_WORDS:
        return "exact_match"
    return "rouge_l"


def _check_pairs(predictions: Sequence[str], references: Sequence[str]) -> None:
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} references")
    if not references:
        raise DataError("no rows to score; the eval split is empty")
