"""Duplicates within the training rows: exact (whitespace and case aside) and near (at the threshold, not below)."""

import pytest

from adaptlab.data import DataOptions, prepare_data
from adaptlab.data.dedup import DuplicateIndex

from .support import write_jsonl

WORDS = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa".split()
ORIGINAL = " ".join(WORDS)
# the last word changed: 13 of the 14 word 3-grams survive, so the Jaccard similarity is 13 / 15
NEAR_COPY = " ".join([*WORDS[:-1], "quebec"])
NEAR_SIMILARITY = 13 / 15


def test_exact_duplicates_ignore_whitespace_and_case():
    index = DuplicateIndex(threshold=0.9)
    assert index.find_then_add(ORIGINAL) is None
    match = index.find_then_add("  ALPHA bravo\tcharlie  " + " ".join(WORDS[3:]))
    assert (match.kind, match.row) == ("exact", 0)


def test_near_duplicates_are_found_at_the_threshold_and_not_above_the_similarity():
    at_threshold = DuplicateIndex(threshold=NEAR_SIMILARITY)
    at_threshold.find_then_add(ORIGINAL)
    match = at_threshold.find(NEAR_COPY)
    assert (match.kind, match.row, match.similarity) == ("near", 0, pytest.approx(NEAR_SIMILARITY))

    just_above = DuplicateIndex(threshold=NEAR_SIMILARITY + 0.001)
    just_above.find_then_add(ORIGINAL)
    assert just_above.find(NEAR_COPY) is None


def test_unrelated_rows_are_not_duplicates():
    index = DuplicateIndex(threshold=0.5)
    index.find_then_add(ORIGINAL)
    assert index.find(" ".join(reversed(WORDS))) is None


def rows_with_duplicates(tmp_path):
    rows = [{"prompt": f"question {number} about {WORDS[number]}", "completion": ORIGINAL} for number in range(3)]
    rows += [
        {"prompt": "question 0 about ALPHA", "completion": ORIGINAL},  # line 4 = line 1
        {"prompt": "question 1 about bravo", "completion": NEAR_COPY},  # line 5 ≈ line 2: 17 of 19 3-grams shared
        {"prompt": "something else entirely", "completion": "a different answer"},
    ]
    return write_jsonl(tmp_path / "train.jsonl", rows)


@pytest.mark.parametrize(("mode", "kept"), [("off", 6), ("report", 6), ("exact", 5), ("near", 4)])
def test_dedup_modes_drop_what_they_name(tmp_path, tiny_tokenizer, mode, kept):
    path = rows_with_duplicates(tmp_path)
    options = DataOptions(dedup=mode, dedup_threshold=0.8)
    info = prepare_data([path], [], tiny_tokenizer, options).info
    duplicates = info.quality.duplicates
    assert info.train_examples == kept
    if mode == "off":
        assert (duplicates.exact, duplicates.near) == (0, 0)
        return
    assert (duplicates.exact, duplicates.near, duplicates.dropped) == (1, 1, 6 - kept)
    assert duplicates.rate == pytest.approx(2 / 6)
    assert duplicates.pairs == [f"{path}:4 = {path}:1", f"{path}:5 ≈ (0.89) {path}:2"]
