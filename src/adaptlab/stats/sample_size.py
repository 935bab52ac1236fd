"""How many examples would tell a given gap apart: normal-approximation sample sizes of a paired test and of
two independent rates (e.g. the arms of a canary)."""

import math

from scipy import stats

POWER = 0.8


def examples_to_resolve(standard_error: float, examples: int, gap: float, alpha: float = 0.05, power: float = POWER) -> int | None:
    """Examples for a true difference of `gap` to test significant at `alpha` with probability `power`.

    The per-example standard deviation is recovered from the measured standard error on `examples`
    examples (σ = SE × √n), then n = ((z(1 − alpha/2) + z(power)) × σ / gap)². None when nothing varies.
    """
    if gap <= 0 or examples < 1:
        raise ValueError(f"gap must be positive and examples at least 1, got gap={gap}, examples={examples}")
    sigma = standard_error * math.sqrt(examples)
    if sigma == 0:
        return None
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
    return math.ceil((z * sigma / gap) ** 2)


def per_group_to_resolve_rates(reference_rate: float, gap: float, alpha: float = 0.05, power: float = POWER) -> int:
    """Observations per group for a true gap of `gap` between two independent rates (the reference's and
    one `gap` below it, or above where below is impossible) to test significant at `alpha` with probability
    `power`: n = (z(1 − alpha/2)·√(2·p̄(1 − p̄)) + z(power)·√(p₁(1 − p₁) + p₂(1 − p₂)))² / gap²  (normal approximation)."""
    if not 0 < gap < 1 or not 0 <= reference_rate <= 1:
        raise ValueError(f"gap must be in (0, 1) and the reference rate in [0, 1], got gap={gap}, rate={reference_rate}")
    first = reference_rate
    second = first - gap if first - gap >= 0 else first + gap
    if not 0 <= second <= 1:
        raise ValueError(f"a gap of {gap} cannot be told apart from a rate of {reference_rate}")
    pooled = (first + second) / 2
    spread = stats.norm.ppf(1 - alpha / 2) * math.sqrt(2 * pooled * (1 - pooled)) + stats.norm.ppf(power) * math.sqrt(
        first * (1 - first) + second * (1 - second)
    )
    return math.ceil((spread / gap) ** 2)
