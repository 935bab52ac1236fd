"""The bootstrap over training seeds and examples: known answers in its two limits, pairing, and refusals."""

import numpy as np
import pytest

from adaptlab.stats import seed_bootstrap
from adaptlab.stats.intervals import bootstrap, mean
from adaptlab.stats.seed_bootstrap import seed_and_example_bootstrap

EXAMPLES = 400


def width(result) -> float:
    return result.interval.high - result.interval.low


def hits(seed: int = 0) -> np.ndarray:
    """A 0/1 task metric on EXAMPLES rows, half of them right."""
    return np.random.default_rng(seed).permutation(np.arange(EXAMPLES) % 2).astype(float)


def test_identical_seeds_give_exactly_the_one_seed_interval_which_is_the_example_interval():
    row = hits()
    one_seed = seed_and_example_bootstrap([[row]], mean)
    three_identical = seed_and_example_bootstrap([[row, row, row]], mean)
    assert three_identical.interval == one_seed.interval and three_identical.point == one_seed.point == 0.5
    # the example bootstrap of scipy (adaptlab.stats.intervals) and the normal approximation ±1.96 √(p(1−p)/n) agree
    examples_only = bootstrap([row], mean)
    assert width(one_seed) == pytest.approx(width(examples_only), rel=0.1)
    assert width(one_seed) == pytest.approx(2 * 1.96 * np.sqrt(0.25 / EXAMPLES), rel=0.1)


def test_seeds_that_disagree_widen_the_interval_by_their_spread():
    row = hits()
    identical = seed_and_example_bootstrap([[row] * 4], mean)
    # each seed gets a different number of rows right: seed means 0.40, 0.45, 0.55, 0.60 (sd of the four 0.079)
    shifted = [np.where(np.arange(EXAMPLES) < right, 1.0, 0.0)[np.random.default_rng(7).permutation(EXAMPLES)]
               for right in (160, 180, 220, 240)]
    disagreeing = seed_and_example_bootstrap([shifted], mean)
    assert disagreeing.point == pytest.approx(0.5)
    assert width(disagreeing) > 1.5 * width(identical)
    # the seed spread alone: resampling 4 seed means of population sd s gives a mean with sd s / √4
    seed_means = np.array([0.40, 0.45, 0.55, 0.60])
    assert disagreeing.standard_error >= 0.8 * np.std(seed_means) / 2
    # keeping every seed in every resample leaves the examples' share only: about the identical-seeds width
    examples_only = seed_and_example_bootstrap([shifted], mean, resample_seeds=False)
    assert width(examples_only) < width(disagreeing) and width(examples_only) == pytest.approx(width(identical), rel=0.25)


def test_samples_stay_paired_on_seeds_and_examples():
    """A method equal to its reference plus a constant on every seed and example: every paired resample shows it."""
    reference = np.random.default_rng(3).normal(size=(3, 50)) + np.array([[0.0], [1.0], [-2.0]])  # seeds differ a lot
    result = seed_and_example_bootstrap([reference + 0.25, reference], lambda a, b, axis: mean(a, axis) - mean(b, axis))
    assert result.interval.low == pytest.approx(0.25) and result.interval.high == pytest.approx(0.25)


def test_seeded_and_the_same_however_the_resamples_are_batched(monkeypatch):
    table = np.random.default_rng(4).normal(size=(3, 200))
    first, again = seed_and_example_bootstrap([table], mean, seed=5), seed_and_example_bootstrap([table], mean, seed=5)
    assert first.interval == again.interval and len(first.distribution) == 2000
    assert seed_and_example_bootstrap([table], mean, seed=6).interval != first.interval
    monkeypatch.setattr(seed_bootstrap, "CELLS_PER_BATCH", 3 * 200 * 7)  # 7 resamples at a time
    np.testing.assert_array_equal(seed_and_example_bootstrap([table], mean, seed=5).distribution, first.distribution)


def test_refuses_tables_of_other_shapes_or_too_few_examples():
    with pytest.raises(ValueError, match="one shape"):
        seed_and_example_bootstrap([np.zeros((2, 5)), np.zeros((3, 5))], mean)
    with pytest.raises(ValueError, match="one shape"):
        seed_and_example_bootstrap([np.zeros(5)], mean)
    with pytest.raises(ValueError, match="two examples"):
        seed_and_example_bootstrap([np.zeros((2, 1))], mean)
