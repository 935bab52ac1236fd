import pytest
from adaptlab.data import Example
from adaptlab.eval.loss import evaluate_loss, example_losses
from adaptlab.models import load_causal_lm


def test_example_losses_token_weighted_are_the_held_out_loss(tiny_model):
    model = load_causal_lm(tiny_model.path)
    examples = [Example(input_ids=list(range(5, 5 + n)), labels=[-100] * 2 + list(range(7, 5 + n))) for n in (6, 9, 14)]
    per_example = example_losses(model, examples, pad_token_id=0)
    assert [r.target_tokens for r in per_example] == [4, 7, 12]
    weighted = sum(r.loss * r.target_tokens for r in per_example) / sum(r.target_tokens for r in per_example)
    assert weighted == pytest.approx(evaluate_loss(model, examples, pad_token_id=0).loss, rel=1e-5)
