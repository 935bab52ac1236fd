"""Small datasets and run helpers for the training tests (tiny model, seconds per run)."""

import json
import random
from pathlib import Path

from adaptlab.schemas.train_config import TrainConfig


def write_copy_task(path: Path, rows: int = 48, seed: int = 0, word_lengths: tuple[int, int] = (3, 6)) -> Path:
    """Prompt/completion rows with a learnable rule: the completion is the prompt's word reversed."""
    rng = random.Random(seed)
    letters = "abcdefgh"
    with path.open("w") as handle:
        for _ in range(rows):
            word = "".join(rng.choice(letters) for _ in range(rng.randint(*word_lengths)))
            handle.write(json.dumps({"prompt": f"reverse {word}", "completion": word[::-1]}) + "\n")
    return path


def tiny_config(tmp_path: Path, method: str, **overrides) -> TrainConfig:
    data = tmp_path / "train.jsonl"
    if not data.exists():
        write_copy_task(data)
    values = dict(
        model="builtin:tiny",
        method=method,
        out=tmp_path / f"run-{method}",
        data=[data],
        eval_fraction=0.25,
        max_seq_len=64,
        micro_batch_size=4,
        learning_rate=3e-3 if method == "full" else 1e-2,
        rank=8,
        alpha=16,
        dropout=0.0,
        max_steps=12,
        seed=0,
    )
    values.update(overrides)
    return TrainConfig(**values)
