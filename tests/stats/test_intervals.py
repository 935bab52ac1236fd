import numpy as np
import pytest

from adaptlab.stats.intervals import Interval, bootstrap, mean, token_weighted_mean


@pytest.mark.parametrize(
    "draw, true_mean",
    [
        (lambda rng: rng.normal(3.0, 2.0, size=100), 3.0),
        (lambda rng: (rng.random(200) < 0.8).astype(float), 0.8),  # a 0/1 task metric
    ],
    ids=["normal", "bernoulli"],
)
def test_95_percent_intervals_cover_the_true_mean_about_95_percent_of_the_time(draw, true_mean):
    rng = np.random.default_rng(12)
    covered = [bootstrap([draw(rng)], mean, seed=rep).interval.contains(true_mean) for rep in range(200)]
    # binomial sd of the share at 200 repetitions is 1.5 points; the percentile bootstrap runs slightly narrow
    assert 0.89 <= np.mean(covered) <= 0.99


def test_interval_narrows_with_more_examples_and_brackets_the_point():
    rng = np.random.default_rng(0)
    small, large = bootstrap([rng.normal(size=50)], mean), bootstrap([rng.normal(size=5000)], mean)
    assert small.interval.low < small.point < small.interval.high
    assert large.interval.high - large.interval.low < 0.2 * (small.interval.high - small.interval.low)
    assert small.standard_error == pytest.approx(1 / np.sqrt(50), rel=0.25)


def test_same_seed_same_interval_other_seed_other_interval():
    values = np.random.default_rng(1).normal(size=80)
    assert bootstrap([values], mean, seed=3).interval == bootstrap([values], mean, seed=3).interval
    assert bootstrap([values], mean, seed=3).interval != bootstrap([values], mean, seed=4).interval


def test_paired_samples_are_resampled_together():
    """A method that equals its reference plus a constant: every paired resample shows exactly that constant."""
    reference = np.random.default_rng(2).normal(size=60)
    result = bootstrap([reference + 0.25, reference], lambda a, b, axis=-1: mean(a, axis) - mean(b, axis))
    assert result.interval.low == pytest.approx(0.25) and result.interval.high == pytest.approx(0.25)


def test_token_weighted_mean_is_the_per_token_loss():
    losses, tokens = np.array([1.0, 3.0]), np.array([3, 1])
    assert token_weighted_mean(losses, tokens) == pytest.approx(1.5)
    result = bootstrap([losses, tokens], token_weighted_mean)
    assert result.point == pytest.approx(1.5)


def test_refuses_unpaired_or_single_example_samples():
    with pytest.raises(ValueError, match="same length"):
        bootstrap([[1.0, 2.0], [1.0]], lambda a, b, axis=-1: a.mean(axis))
    with pytest.raises(ValueError, match="at least two"):
        bootstrap([[1.0]], mean)


def test_interval_contains():
    assert Interval(low=1.0, high=2.0).contains(1.5) and not Interval(low=1.0, high=2.0).contains(2.5)


def test_unpaired_samples_are_resampled_separately():
    """Two samples of different sizes: each keeps its size in every resample, so a difference of means is unbiased."""
    rng = np.random.default_rng(3)
    first, second = rng.normal(1.0, 1.0, 300), rng.normal(0.0, 1.0, 120)
    result = bootstrap([first, second], lambda a, b, axis=-1: np.mean(a, axis=axis) - np.mean(b, axis=axis), paired=False, resamples=500)
    assert result.interval.contains(result.point) and result.interval.low > 0.5 and result.interval.high < 1.5
    with pytest.raises(ValueError, match="same length"):
        bootstrap([first, second], lambda a, b, axis=-1: np.mean(a - b, axis=axis))
