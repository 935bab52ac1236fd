"""Packed rows train on exactly the loss of the same examples padded: no attention, and no
prediction, crosses an example boundary."""

import pytest
import torch

from adaptlab.data import pack_examples, packed_batch, pad_batch, prepare_data
from adaptlab.models import load_causal_lm, load_tokenizer
from adaptlab.train.loss import TargetTokenLoss
from tests.train.helpers import tiny_config


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
def test_packed_loss_equals_padded_loss(tmp_path, tiny_model, attention):
    config = tiny_config(tmp_path, "full", train_on_prompt=True)
    tokenizer = load_tokenizer(tiny_model.path)
    examples = prepare_data(config.data, [], tokenizer, config).train[:12]
    model = load_causal_lm(tiny_model.path)
    model.config._attn_implementation = attention
    loss = TargetTokenLoss(model).eval()
    bins = pack_examples(examples, max_seq_len=256)
    assert len(bins) < len(examples), "several examples must share a row"
    with torch.no_grad():
        packed = loss(**packed_batch(bins, tokenizer.pad_token_id))
        padded = sum(loss(**pad_batch([example], tokenizer.pad_token_id)) for example in examples)
    torch.testing.assert_close(packed, padded, atol=1e-3, rtol=1e-5)
