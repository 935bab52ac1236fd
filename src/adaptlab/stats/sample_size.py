"""How many examples would tell a given gap apart: the normal-approximation sample size of a paired test."""

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
