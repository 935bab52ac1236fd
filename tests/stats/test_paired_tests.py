import numpy as np
import pytest

from adaptlab.stats.intervals import bootstrap, mean
from adaptlab.stats.paired_tests import mcnemar_exact, paired_bootstrap_test, verdict


def difference(a, b, axis=-1):
    return mean(a, axis) - mean(b, axis)


def bootstrap_test(method, reference):
    result = bootstrap([method, reference], difference)
    return paired_bootstrap_test(result.point, result.distribution, len(method))


def test_paired_bootstrap_finds_a_planted_difference_in_both_directions():
    rng = np.random.default_rng(0)
    reference = rng.normal(1.0, 1.0, size=200)
    method = reference + 0.3 + rng.normal(0.0, 0.5, size=200)
    better, worse = bootstrap_test(method, reference), bootstrap_test(reference, method)
    assert better.verdict == "better" and better.p_value < 0.01 and better.difference == pytest.approx(0.3, abs=0.1)
    assert worse.verdict == "worse"


def test_paired_bootstrap_does_not_flag_an_equal_pair():
    rng = np.random.default_rng(1)
    flagged = 0
    for _ in range(40):
        reference = rng.normal(size=200)
        flagged += bootstrap_test(reference + rng.normal(0.0, 0.5, size=200), reference).verdict != "indistinguishable"
    assert flagged <= 6  # about 5 % of 40 by chance
    identical = rng.normal(size=50)
    assert bootstrap_test(identical, identical).p_value == 1.0


def test_mcnemar_counts_only_discordant_examples():
    # 6 examples only the method got right, none only the reference did: p = 2 × 0.5⁶
    method = np.array([1] * 6 + [1] * 50 + [0] * 44)
    reference = np.array([0] * 6 + [1] * 50 + [0] * 44)
    test = mcnemar_exact(method, reference)
    assert test.test == "mcnemar_exact" and test.p_value == pytest.approx(2 * 0.5**6)
    assert test.verdict == "better" and test.difference == pytest.approx(0.06)
    assert mcnemar_exact(reference, method).verdict == "worse"


def test_mcnemar_finds_a_planted_gain_and_not_an_even_swap():
    rng = np.random.default_rng(2)
    reference = (rng.random(200) < 0.7).astype(int)
    improved = np.where(rng.random(200) < 0.5, 1, reference)  # half the misses fixed
    assert mcnemar_exact(improved, reference).verdict == "better"
    swapped = reference.copy()
    wrong, right = np.flatnonzero(reference == 0)[:10], np.flatnonzero(reference == 1)[:10]
    swapped[wrong], swapped[right] = 1, 0
    even = mcnemar_exact(swapped, reference)
    assert even.p_value == 1.0 and even.verdict == "indistinguishable" and even.difference == 0
    assert mcnemar_exact(reference, reference).p_value == 1.0


def test_verdict_needs_significance_and_a_direction():
    assert verdict(2.0, 0.01) == "better"
    assert verdict(-2.0, 0.01) == "worse"
    assert verdict(2.0, 0.2) == "indistinguishable"
    assert verdict(0.0, 0.0) == "indistinguishable"


def test_mcnemar_refuses_unpaired_scores():
    with pytest.raises(ValueError, match="same length"):
        mcnemar_exact([1, 0], [1, 0, 1])
