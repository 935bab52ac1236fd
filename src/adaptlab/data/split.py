"""The held-out split: which training rows become eval rows when no eval files are given.

A row's place depends only on the seed and its content (a hash), never on file order, so the same rows and seed
give the same split, and duplicate rows land on the same side.
"""

import hashlib
import json
from collections.abc import Sequence

from adaptlab.data.formats import Conversation, Sample
from adaptlab.errors import DataError


def held_out_indices(samples: Sequence[Sample], eval_fraction: float, seed: int) -> set[int]:
    """Indices of the rows to hold out: round(n * eval_fraction) of them, at least one, never all."""
    if eval_fraction <= 0:
        return set()
    count = max(1, round(len(samples) * eval_fraction))
    if count >= len(samples):
        raise DataError(
            f"eval_fraction {eval_fraction} of {len(samples)} usable training rows leaves none for training; "
            "add rows, lower eval_fraction or pass eval files"
        )
    ranked = sorted(range(len(samples)), key=lambda index: (_split_key(samples[index], seed), index))
    return set(ranked[:count])


def _split_key(sample: Sample, seed: int) -> str:
    content = sample.messages if isinstance(sample, Conversation) else sample.text
    canonical = json.dumps([seed, content], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
