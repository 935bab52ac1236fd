"""Win rate (ties half) with a cluster-bootstrap interval, and Cohen's kappa, against hand-computed values."""

import pytest

from adaptlab.stats.preference import LOSS, TIE, WIN, cohen_kappa, reviewer_agreement, win_rate


def test_win_rate_counts_ties_half_and_resamples_items():
    rate = win_rate([[WIN], [TIE, WIN], [LOSS], [WIN, WIN]])
    assert rate.point == pytest.approx(4.5 / 6) and rate.judgments == 6 and rate.items == 4
    assert 0.0 <= rate.interval.low < rate.point < rate.interval.high <= 1.0
    assert win_rate([[WIN, TIE]]).interval is None  # one item: nothing to resample
    assert win_rate([[], []]) is None
    unanimous = win_rate([[WIN], [WIN], [WIN]])
    assert unanimous.point == 1.0 and (unanimous.interval.low, unanimous.interval.high) == (1.0, 1.0)


def test_cohen_kappa_against_hand_computed_values():
    first = ["c", "c", "b", "t", "c", "b"]
    second = ["c", "b", "b", "t", "c", "c"]
    # observed 4/6; chance (3·3 + 2·2 + 1·1) / 36 = 14/36; kappa = (24 − 14) / (36 − 14) = 5/11
    assert cohen_kappa(first, second) == pytest.approx(5 / 11)
    assert cohen_kappa(["a", "b"], ["a", "b"]) == pytest.approx(1.0)
    assert cohen_kappa(["a", "a"], ["a", "a"]) is None  # one label throughout: chance agreement is total
    with pytest.raises(ValueError):
        cohen_kappa(["a"], ["a", "b"])


def test_cohen_kappa_agrees_with_scikit_learn():
    metrics = pytest.importorskip("sklearn.metrics")
    first = ["c", "c", "b", "t", "c", "b", "x", "x", "c"]
    second = ["c", "b", "b", "t", "x", "c", "x", "b", "c"]
    assert cohen_kappa(first, second) == pytest.approx(metrics.cohen_kappa_score(first, second))


def test_reviewer_agreement_weights_each_pair_by_the_items_both_judged():
    labels = {
        1: {"rita": "c", "rick": "c", "sam": "b"},
        2: {"rita": "b", "rick": "c"},
        3: {"rita": "t", "rick": "t", "sam": "t"},
        4: {"rita": "c"},  # one review: not an agreement item
    }
    agreement = reviewer_agreement(labels)
    rita_rick = cohen_kappa(["c", "b", "t"], ["c", "c", "t"])
    rita_sam = cohen_kappa(["c", "t"], ["b", "t"])
    rick_sam = cohen_kappa(["c", "t"], ["b", "t"])
    assert agreement.items == 3 and agreement.reviewer_pairs == 3
    assert agreement.kappa == pytest.approx((3 * rita_rick + 2 * rita_sam + 2 * rick_sam) / 7)
    two = reviewer_agreement({1: {"a": "c", "b": "c"}, 2: {"a": "b", "b": "c"}, 3: {"a": "t", "b": "t"}})
    assert two.kappa == pytest.approx(cohen_kappa(["c", "b", "t"], ["c", "c", "t"]))
    assert reviewer_agreement({1: {"a": "c"}}) is None
