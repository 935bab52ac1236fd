import math

import pytest

from adaptlab.stats.sample_size import examples_to_resolve


def test_known_answer_for_a_unit_standard_deviation():
    # σ = 1 per example (SE 0.1 on 100 examples), gap 0.5, two-sided 5 %, power 80 %: (2.8016 / 0.5)² = 31.4 -> 32
    assert examples_to_resolve(0.1, 100, 0.5) == 32


def test_halving_the_gap_quadruples_the_examples_and_sigma_is_recovered_from_any_n():
    assert examples_to_resolve(0.1, 100, 0.25) == pytest.approx(4 * 31.4, abs=1)
    assert examples_to_resolve(1 / math.sqrt(400), 400, 0.5) == 32


def test_nothing_varies_nothing_to_resolve_and_bad_gap_refused():
    assert examples_to_resolve(0.0, 50, 3.0) is None
    with pytest.raises(ValueError, match="gap"):
        examples_to_resolve(0.1, 100, 0.0)
