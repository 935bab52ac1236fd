"""Intervals that include run-to-run variation: a bootstrap over training seeds *and* examples.

Each method trains once per seed and every seed is scored on the same examples, so seeds and examples are
crossed factors (a seeds × examples table), not nested ones. The two-way ("pigeonhole") bootstrap of
Owen (2007, "The pigeonhole bootstrap", Annals of Applied Statistics) resamples both: one draw of seed
indices and one draw of example indices per replicate, shared by every sample given together, so a method
and full fine-tuning stay paired on seeds and on examples. Two known answers follow from the construction:
with identical seeds it reduces to the example bootstrap, and seeds that disagree widen it.

Written here rather than with scipy.stats.bootstrap, which resamples one index per observation and has no
crossed design; the percentile interval is the same as intervals.bootstrap's.
"""

from collections.abc import Sequence

import numpy as np

from adaptlab.stats.intervals import LEVEL, RESAMPLES, Bootstrap, Interval, Statistic

SEED_AND_EXAMPLE_AXES = (-2, -1)
CELLS_PER_BATCH = 1 << 22  # resampled table cells held at once per sample (32 MiB of float64): memory stays bounded


def seed_and_example_bootstrap(
    samples: Sequence[Sequence[Sequence[float]]], statistic: Statistic, *, resamples: int = RESAMPLES, level: float = LEVEL,
    seed: int = 0, resample_seeds: bool = True,
) -> Bootstrap:
    """Interval of `statistic(*samples, axis=(-2, -1))`, each sample a seeds × examples table, paired across samples.

    `statistic` reduces the two last axes (numpy reductions accept the tuple). `resample_seeds=False` keeps every
    seed in every replicate: the interval then covers the sampling of examples only, for the same seeds.
    """
    tables = [np.asarray(sample, dtype=float) for sample in samples]
    shapes = {table.shape for table in tables}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise ValueError(f"paired samples must be seeds × examples tables of one shape, got {sorted(shapes)}")
    seeds, examples = shapes.pop()
    if examples < 2 or seeds < 1:
        raise ValueError("a bootstrap interval needs at least one seed and two examples")
    rng = np.random.default_rng(seed)
    example_draws = rng.integers(0, examples, size=(resamples, 1, examples))
    seed_draws = rng.integers(0, seeds, size=(resamples, seeds, 1)) if resample_seeds else np.broadcast_to(np.arange(seeds).reshape(1, seeds, 1), (resamples, seeds, 1))
    batch = max(1, CELLS_PER_BATCH // (seeds * examples))
    distribution = np.concatenate([
        np.asarray(statistic(*(table[seed_draws[start : start + batch], example_draws[start : start + batch]] for table in tables),
                             axis=SEED_AND_EXAMPLE_AXES), dtype=float)
        for start in range(0, resamples, batch)
    ])
    low, high = (float(bound) for bound in np.percentile(distribution, [50 * (1 - level), 50 * (1 + level)]))
    if not (np.isfinite(low) and np.isfinite(high)):
        raise ValueError("the statistic is not finite on some resamples (e.g. a ratio to a mean of zero)")
    point = float(statistic(*tables, axis=SEED_AND_EXAMPLE_AXES))
    return Bootstrap(point=point, interval=Interval(low=low, high=high, level=level), distribution=distribution)
