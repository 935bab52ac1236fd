"""Is a method better than, worse than, or indistinguishable from its reference on the same examples?

Two tests, both two-sided at `alpha`:
- exact McNemar for 0/1 scores: among the examples exactly one of the two got right, is the split
  further from 50/50 than chance allows (scipy.stats.binomtest)?
- paired bootstrap for any other statistic: the share of resampled differences on the far side of
  zero, doubled (the p-value whose 1 − alpha interval is the percentile interval).
"""

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy import stats

ALPHA = 0.05

Verdict = Literal["better", "worse", "indistinguishable"]


class PairedTest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    test: Literal["mcnemar_exact", "paired_bootstrap"]
    difference: float = Field(allow_inf_nan=False, description="method − reference, higher is better")
    p_value: float = Field(ge=0, le=1)
    alpha: float = Field(ALPHA, gt=0, lt=1)
    verdict: Verdict
    examples: int = Field(ge=0)


def verdict(difference: float, p_value: float, alpha: float = ALPHA) -> Verdict:
    if p_value >= alpha or difference == 0:
        return "indistinguishable"
    return "better" if difference > 0 else "worse"


def mcnemar_exact(method_scores, reference_scores, alpha: float = ALPHA) -> PairedTest:
    """Exact McNemar test on paired 0/1 scores (1 = the example was right)."""
    method, reference = np.asarray(method_scores) == 1, np.asarray(reference_scores) == 1
    if method.shape != reference.shape:
        raise ValueError(f"paired scores must have the same length, got {method.size} and {reference.size}")
    only_method, only_reference = int(np.sum(method & ~reference)), int(np.sum(~method & reference))
    discordant = only_method + only_reference
    p_value = 1.0 if discordant == 0 else float(stats.binomtest(only_method, discordant, 0.5).pvalue)
    difference = (only_method - only_reference) / max(method.size, 1)
    return PairedTest(test="mcnemar_exact", difference=difference, p_value=p_value, alpha=alpha,
                      verdict=verdict(difference, p_value, alpha), examples=int(method.size))


def paired_bootstrap_test(difference: float, resampled_differences, examples: int, alpha: float = ALPHA) -> PairedTest:
    """Test from a paired bootstrap of (method − reference): `resampled_differences` as intervals.bootstrap returns them."""
    resampled = np.asarray(resampled_differences, dtype=float)
    p_value = min(1.0, 2.0 * min(float(np.mean(resampled <= 0)), float(np.mean(resampled >= 0))))
    return PairedTest(test="paired_bootstrap", difference=difference, p_value=p_value, alpha=alpha,
                      verdict=verdict(difference, p_value, alpha), examples=examples)
