"""The built-in reference text: large enough for a tight interval, deterministic, and readable as package data."""

import hashlib

import pytest

from adaptlab.errors import DataError
from adaptlab.eval.forgetting import reference_examples, reference_text
from adaptlab.models import load_tokenizer, resolve_model

MIN_REFERENCE_TOKENS = 20_000


@pytest.mark.integration
def test_builtin_reference_holds_at_least_20k_smollm2_tokens():
    tokenizer = load_tokenizer(resolve_model("builtin:smollm2-135m").path)
    examples = reference_examples(tokenizer, reference_text())
    assert sum(len(example.input_ids) for example in examples) >= MIN_REFERENCE_TOKENS
    assert len(examples) >= 70  # enough chunks to bootstrap over


def test_builtin_reference_is_the_same_text_every_time():
    first, second = reference_text(), reference_text()
    assert hashlib.sha256(first.encode()).digest() == hashlib.sha256(second.encode()).digest()
    assert len(first.split()) > 15_000


def test_a_user_reference_must_be_readable_and_non_empty(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n")
    with pytest.raises(DataError, match="empty.txt: the reference text is empty"):
        reference_text(empty)
    with pytest.raises(DataError, match="missing.txt: cannot read"):
        reference_text(tmp_path / "missing.txt")
