import numpy as np
import pytest

from adaptlab.eval.intervals import mean, per_token_mean, relative_change_percent


def test_per_token_mean_weights_examples_by_their_tokens():
    estimate = per_token_mean([10.0, 2.0, 6.0], [5, 1, 2])
    assert estimate.value == pytest.approx(18 / 8)
    assert estimate.low <= estimate.value <= estimate.high and estimate.examples == 3


def test_interval_narrows_with_more_examples():
    rng = np.random.default_rng(0)
    small, large = mean(rng.random(20)), mean(rng.random(2000))
    assert large.high - large.low < small.high - small.low


def test_identical_examples_give_a_point_interval_and_one_example_none():
    assert (mean([1.0, 1.0, 1.0]).low, mean([1.0, 1.0, 1.0]).high) == (1.0, 1.0)
    single = mean([0.5])
    assert single.value == 0.5 and single.low is None and single.high is None


def test_relative_change_is_paired_over_examples():
    before = np.array([1.0, 5.0, 2.0, 8.0])
    estimate = relative_change_percent(before, before * 1.1)
    # every resample keeps each example's pair, so a uniform 10 % rise has no spread
    assert estimate.value == pytest.approx(10.0)
    assert estimate.low == pytest.approx(10.0) and estimate.high == pytest.approx(10.0)
