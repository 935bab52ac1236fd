"""Two independent groups: each interval and test against its formula worked by hand."""

import math

import pytest
from scipy import stats

from adaptlab.stats.sample_size import per_group_to_resolve_rates
from adaptlab.stats.two_groups import (
    fisher_exact_test,
    mann_whitney_test,
    mean_interval,
    proportion_interval,
    quantile_interval,
    welch_t_test,
)

Z = 1.959963984540054  # z(0.975)


def test_wilson_interval_of_3_in_10():
    n, p = 10, 0.3
    centre = (p + Z * Z / (2 * n)) / (1 + Z * Z / n)
    half = Z / (1 + Z * Z / n) * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n))
    interval = proportion_interval(3, 10)
    assert (interval.low, interval.high) == pytest.approx((centre - half, centre + half))  # 0.108, 0.603
    assert proportion_interval(0, 0) is None
    assert proportion_interval(0, 20).low == 0


def test_t_interval_of_a_mean():
    values = [1.0, 2.0, 4.0, 7.0]  # mean 3.5, s² = (6.25 + 2.25 + 0.25 + 12.25) / 3 = 7
    half = 3.182446305284263 * math.sqrt(7 / 4)  # t(0.975, 3) · s / √n
    interval = mean_interval(values)
    assert (interval.low, interval.high) == pytest.approx((3.5 - half, 3.5 + half))
    assert mean_interval([5.0]) is None
    assert (mean_interval([2.0, 2.0]).low, mean_interval([2.0, 2.0]).high) == (2.0, 2.0)


def test_median_interval_from_order_statistics():
    # 1..100: P(the median lies between the 40th and 61st values) = P(40 ≤ Binomial(100, ½) ≤ 60) ≥ 0.95, the narrowest such
    interval = quantile_interval([float(v) for v in range(1, 101)], 0.5)
    assert (interval.low, interval.high) == (40.0, 61.0)
    assert stats.binom.cdf(60, 100, 0.5) - stats.binom.cdf(39, 100, 0.5) >= 0.95
    assert quantile_interval([0.1, 0.2, 0.3], 0.95) is None  # too few values for a p95's interval
    assert quantile_interval([], 0.5) is None


def test_fisher_exact_by_the_hypergeometric_distribution():
    # 0 of 10 against 2 of 8: P(X = 0) = C(8, 2) / C(18, 2) = 28 / 153, and no table is less likely on the other side
    test = fisher_exact_test(0, 10, 2, 8)
    assert test.p_value == pytest.approx(28 / 153)
    assert test.difference == pytest.approx(0.25) and not test.significant
    assert fisher_exact_test(0, 0, 1, 2) is None


def test_welch_t_by_its_formula():
    a, b = [1.0, 2.0, 3.0, 4.0], [2.0, 4.0, 6.0, 8.0, 10.0]
    va, vb = stats.tvar(a) / 4, stats.tvar(b) / 5
    t = (6.0 - 2.5) / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / 3 + vb**2 / 4)
    test = welch_t_test(a, b)
    assert test.difference == pytest.approx(3.5) and test.p_value == pytest.approx(2 * stats.t.sf(t, df))
    assert welch_t_test([1.0, 1.0], [1.0, 1.0]).p_value == 1.0
    assert welch_t_test([0.0, 0.0], [1.0, 1.0]).p_value == 0.0
    assert welch_t_test([1.0], [1.0, 2.0]) is None


def test_mann_whitney_exact_for_separated_groups():
    # every b above every a: U = 0, one of C(6, 3) = 20 orderings each way, p = 2 / 20
    test = mann_whitney_test([1.0, 2.0, 3.0], [4.0, 5.0, 6.0])
    assert test.p_value == pytest.approx(0.1) and test.difference == 3.0
    assert mann_whitney_test([1.0, 1.0], [1.0]).p_value == 1.0
    assert mann_whitney_test([], [1.0]) is None


def test_ratings_per_group_to_resolve_a_5_point_gap_at_one_half():
    # (1.95996·√(2·0.475·0.525) + 0.84162·√(0.25 + 0.2475))² / 0.05² = 1564.6
    assert per_group_to_resolve_rates(0.5, 0.05) == 1565
    assert per_group_to_resolve_rates(0.02, 0.05) < per_group_to_resolve_rates(0.5, 0.05)  # a rare event: less traffic
    with pytest.raises(ValueError, match="gap"):
        per_group_to_resolve_rates(0.5, 0.0)
