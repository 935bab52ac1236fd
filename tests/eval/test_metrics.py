import pytest

from adaptlab.errors import DataError
from adaptlab.eval import metrics
from adaptlab.eval.metrics import (
    accuracy,
    choose_metric,
    contains_answer,
    exact_match,
    normalize_answer,
    predicted_label,
    rouge_l,
    score,
)


@pytest.mark.parametrize(
    ("text", "normalized"),
    [
        ("  Paris. ", "paris"),
        ("New\tYork   City!!", "new york city"),
        ("e.g. this", "e.g. this"),  # inner punctuation stays
        ("?!", ""),
    ],
)
def test_normalize_answer(text, normalized):
    assert normalize_answer(text) == normalized


@pytest.mark.parametrize(
    ("prediction", "reference", "expected"),
    [
        ("Paris", "paris.", 1.0),
        ("  the   Acme Cloud ", "The Acme cloud", 1.0),
        ("Paris, France", "Paris", 0.0),
        ("", "", 1.0),
    ],
)
def test_exact_match(prediction, reference, expected):
    assert exact_match(prediction, reference) == expected


@pytest.mark.parametrize(
    ("prediction", "reference", "expected"),
    [
        ("The capital is Paris, of course.", "paris", 1.0),
        ("Parisian cafés", "Paris", 0.0),  # whole words only
        ("we use acme cloud daily", "Acme Cloud.", 1.0),
        ("nothing here", "Paris", 0.0),
    ],
)
def test_contains_answer(prediction, reference, expected):
    assert contains_answer(prediction, reference) == expected


def test_rouge_l_matches_hand_computed_lcs():
    # LCS of the two token lists is "the cat on the mat" (5 of 6 tokens on each side).
    assert rouge_l("the cat sat on the mat", "the cat is on the mat") == pytest.approx(5 / 6)
    # precision 2/2, recall 2/4 -> F1 = 2/3
    assert rouge_l("quick fox", "the quick brown fox") == pytest.approx(2 / 3)
    assert rouge_l("The Cat.", "the cat") == 1.0
    assert rouge_l("dog", "the cat") == 0.0
    assert rouge_l("", "") == 1.0
    assert rouge_l("", "cat") == 0.0


def test_rouge_l_is_symmetric_in_f1():
    a, b = "a b c d e f", "a x c y e"
    assert rouge_l(a, b) == pytest.approx(rouge_l(b, a))


def test_predicted_label_reads_the_label_a_generation_names():
    labels = ["positive", "negative", "neutral"]
    assert predicted_label("Negative.", labels) == "negative"
    assert predicted_label("positive, clearly", labels) == "positive"
    assert predicted_label("positively glowing", labels) is None  # a word that merely starts like a label
    assert predicted_label("I think it is neutral", labels) is None


def test_accuracy_over_labels():
    predictions = ["positive, clearly", "neg", "Negative", "neutral!"]
    references = ["positive", "negative", "negative", "positive"]
    assert accuracy(predictions, references) == 0.5


@pytest.mark.parametrize("metric", ["exact_match", "contains", "rouge_l", "accuracy"])
def test_score_is_the_mean_over_rows_and_bounded(metric):
    predictions = ["Paris", "Berlin is the answer", "x"]
    references = ["paris", "Berlin", "Rome"]
    value = score(metric, predictions, references)
    assert 0.0 <= value <= 1.0
    assert score(metric, references, references) == 1.0


def test_score_exact_match_mean():
    assert score("exact_match", ["a", "b", "c", "d"], ["a", "b", "x", "y"]) == 0.5


def test_score_refuses_mismatched_or_empty_inputs():
    with pytest.raises(ValueError, match="2 predictions for 1 references"):
        score("rouge_l", ["a", "b"], ["a"])
    with pytest.raises(DataError, match="empty"):
        score("exact_match", [], [])


@pytest.mark.parametrize(
    ("references", "metric"),
    [
        (["spam", "ham", "ham", "spam"] * 5, "accuracy"),  # 2 labels, 20 rows
        (["Acme Cloud", "the Widget Pro", "Paris", "42", "blue whale", "Berlin"], "exact_match"),  # all distinct, short
        (["The quarterly report shows revenue grew by eight percent in Europe and Asia"] * 1
         + ["Please restart the Acme Cloud gateway before applying the new firewall rules"] * 1, "rouge_l"),
        (["yes", "no", "maybe", "yes"], "exact_match"),  # too few rows per label to call them labels
    ],
)
def test_choose_metric(references, metric):
    assert choose_metric(references) == metric


def test_choose_metric_without_references():
    with pytest.raises(DataError, match="no reference answers"):
        choose_metric([])


@pytest.mark.parametrize("metric", ["exact_match", "contains", "rouge_l", "accuracy"])
def test_row_scores_are_what_score_averages(metric):
    predictions = ["Paris", "the answer is Rome", "berlin", "Madrid."]
    references = ["paris", "Rome", "Paris", "Madrid"]
    rows = metrics.row_scores(metric, predictions, references)
    assert len(rows) == 4 and all(0.0 <= v <= 1.0 for v in rows)
    assert sum(rows) / 4 == pytest.approx(metrics.score(metric, predictions, references))
