"""Duplicates within the training rows: exact (whitespace and case aside) and near (at the threshold, not below)."""

import random

import numpy as np
import pytest

from adaptlab.data import DataOptions, prepare_data
from adaptlab.data.bad_rows import BadRow
from adaptlab.data.dedup import DuplicateIndex, KeyTable, candidate_probability, lsh_bands
from adaptlab.data.quality import QualityPass

from .support import write_jsonl

WORDS = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa".split()
ORIGINAL = " ".join(WORDS)
# the last word changed: 13 of the 14 word 3-grams survive, so the Jaccard similarity is 13 / 15
NEAR_COPY = " ".join([*WORDS[:-1], "quebec"])
NEAR_SIMILARITY = 13 / 15
MAX_BYTES = 2**20


def test_exact_duplicates_ignore_whitespace_and_case():
    index = DuplicateIndex(threshold=0.9, max_bytes=MAX_BYTES)
    assert index.find_then_add(ORIGINAL) is None
    match = index.find_then_add("  ALPHA bravo\tcharlie  " + " ".join(WORDS[3:]))
    assert (match.kind, match.row) == ("exact", 0)


def test_near_duplicates_are_found_at_the_threshold_and_not_above_the_similarity():
    at_threshold = DuplicateIndex(threshold=NEAR_SIMILARITY, max_bytes=MAX_BYTES)
    at_threshold.find_then_add(ORIGINAL)
    match = at_threshold.find(NEAR_COPY)
    assert (match.kind, match.row, match.similarity) == ("near", 0, pytest.approx(NEAR_SIMILARITY))

    just_above = DuplicateIndex(threshold=NEAR_SIMILARITY + 0.001, max_bytes=MAX_BYTES)
    just_above.find_then_add(ORIGINAL)
    assert just_above.find(NEAR_COPY) is None


def test_unrelated_rows_are_not_duplicates():
    index = DuplicateIndex(threshold=0.5, max_bytes=MAX_BYTES)
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


def random_rows(count: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choices(WORDS, k=20)) for _ in range(count)]


def test_bands_propose_a_pair_at_the_threshold_with_the_stated_probability():
    for threshold in (0.5, 0.8, NEAR_SIMILARITY, 0.95):
        bands, rows = lsh_bands(threshold)
        assert candidate_probability(threshold, bands, rows) >= 0.99
    assert lsh_bands(0.8) == (10, 3) and candidate_probability(0.8, 10, 3) == pytest.approx(0.99923, abs=1e-5)


def test_key_table_finds_rows_before_and_after_a_merge_earliest_first():
    table = KeyTable(recent_keys=4)
    for row in range(10):
        table.add([row % 3, 100 + row], row)
    assert table.rows(np.array([0], dtype=np.uint64)) == [0, 3, 6, 9]
    assert table.rows(np.array([105, 7, 109], dtype=np.uint64)) == [5, 9]


def test_a_full_index_stays_within_its_bound_and_still_finds_duplicates_of_what_it_holds():
    index = DuplicateIndex(threshold=0.8, max_bytes=300_000)
    rows = random_rows(2_000)
    for text in rows:
        index.find_then_add(text)
    assert 0 < len(index) < len(rows) and index.unindexed == len(rows) - len(index)
    assert index.reserved_bytes <= index.max_bytes
    assert index.find(rows[0].upper()).row == 0
    assert index.find(rows[-1]) is None  # past the bound: looked up, never added


def test_the_summary_counts_rows_past_the_memory_bound():
    quality = QualityPass(DataOptions(pii="off", dedup_memory_mb=1), check_contamination=False)
    for line, text in enumerate(random_rows(6_000, seed=1), start=1):
        quality.keeps(text, "train", BadRow("train.jsonl", line, ""))
    duplicates = quality.summary(6_000, {}).duplicates
    assert duplicates.unindexed_rows > 0 and "raise --dedup-memory-mb" in duplicates.warning()
    assert quality.index_reserved_bytes <= 2**20
