"""Small helpers for the data tests: write a data file, read back which tokens carry loss."""

import json
from pathlib import Path

from adaptlab.data import IGNORE_INDEX, DataOptions, Example, PreparedData, prepare_data


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def prepare_rows(tmp_path: Path, rows: list, tokenizer, **options) -> PreparedData:
    return prepare_data([write_jsonl(tmp_path / "rows.jsonl", rows)], [], tokenizer, DataOptions(**options))


def target_spans(tokenizer, example: Example) -> list[str]:
    """The decoded runs of consecutive tokens that carry loss."""
    spans: list[list[int]] = []
    previous_is_target = False
    for token, label in zip(example.input_ids, example.labels, strict=True):
        is_target = label != IGNORE_INDEX
        if is_target:
            assert label == token, "a target label must be the token itself (labels are not shifted)"
            if not previous_is_target:
                spans.append([])
            spans[-1].append(token)
        previous_is_target = is_target
    return [tokenizer.decode(span) for span in spans]
