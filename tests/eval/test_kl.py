"""KL of next-token distributions from the base, and the paired losses, on the tiny model."""

import pytest
import torch

from adaptlab.eval.forgetting import forgetting_signals, reference_examples, reference_text
from adaptlab.eval.kl import paired_token_sums
from adaptlab.eval.loss import evaluate_loss
from adaptlab.models import load_causal_lm, load_tokenizer


@pytest.fixture(scope="module")
def tiny(tiny_model):
    tokenizer = load_tokenizer(tiny_model.path)
    examples = reference_examples(tokenizer, reference_text()[:3000])
    return tiny_model, tokenizer, examples


def perturbed(model_path):
    model = load_causal_lm(model_path)
    with torch.no_grad():
        model.model.layers[0].mlp.down_proj.weight.add_(0.05)
    return model


def test_kl_is_zero_for_an_untouched_model(tiny):
    base_model, tokenizer, examples = tiny
    base, untouched = load_causal_lm(base_model.path), load_causal_lm(base_model.path)
    pad = tokenizer.pad_token_id
    signals = forgetting_signals(paired_token_sums(base, untouched, examples, pad), paired_token_sums(base, untouched, examples[:2], pad))
    assert signals.kl_reference.value == pytest.approx(0.0, abs=1e-6)
    assert signals.kl_held_out.value == pytest.approx(0.0, abs=1e-6)
    assert signals.forgetting_percent.value == pytest.approx(0.0, abs=1e-6)
    assert signals.reference_loss_before.value == pytest.approx(signals.reference_loss_after.value)


def test_bf16_passes_keep_an_untouched_model_at_zero_and_stay_close_to_float32(tiny):
    base_model, tokenizer, examples = tiny
    base, tuned = load_causal_lm(base_model.path), perturbed(base_model.path)
    pad = tokenizer.pad_token_id
    untouched = paired_token_sums(base, load_causal_lm(base_model.path), examples, pad, autocast_dtype=torch.bfloat16)
    assert untouched.kl.sum() == pytest.approx(0.0, abs=1e-6)
    float32, bf16 = paired_token_sums(base, tuned, examples, pad), paired_token_sums(base, tuned, examples, pad, autocast_dtype=torch.bfloat16)
    assert bf16.tuned_loss.sum() == pytest.approx(float32.tuned_loss.sum(), rel=1e-2)
    assert bf16.kl.sum() == pytest.approx(float32.kl.sum(), rel=0.1)


def test_kl_and_losses_of_a_changed_model(tiny):
    base_model, tokenizer, examples = tiny
    base, tuned = load_causal_lm(base_model.path), perturbed(base_model.path)
    sums = paired_token_sums(base, tuned, examples, tokenizer.pad_token_id, batch_size=3)
    assert len(sums.kl) == len(examples) and (sums.kl > 0).all()
    assert int(sums.tokens.sum()) == sum(len(e.input_ids) - 1 for e in examples)
    # the paired pass's losses are the ones evaluate_loss reports for each model
    assert sums.base_loss.sum() / sums.tokens.sum() == pytest.approx(evaluate_loss(base, examples, tokenizer.pad_token_id).loss, rel=1e-5)
    assert sums.tuned_loss.sum() / sums.tokens.sum() == pytest.approx(evaluate_loss(tuned, examples, tokenizer.pad_token_id).loss, rel=1e-5)
    signals = forgetting_signals(sums, None)
    assert signals.kl_held_out is None
    assert signals.kl_reference.low <= signals.kl_reference.value <= signals.kl_reference.high
    assert signals.kl_reference.value > 0 and signals.kl_reference.examples == len(examples)


def test_kl_is_measured_from_the_base_not_to_it(tiny):
    base_model, tokenizer, examples = tiny
    base, tuned = load_causal_lm(base_model.path), perturbed(base_model.path)
    forward = paired_token_sums(base, tuned, examples[:2], tokenizer.pad_token_id)
    backward = paired_token_sums(tuned, base, examples[:2], tokenizer.pad_token_id)
    with torch.no_grad():
        log_base = torch.log_softmax(base(input_ids=torch.tensor([examples[0].input_ids])).logits[0, :-1].float(), -1)
        log_tuned = torch.log_softmax(tuned(input_ids=torch.tensor([examples[0].input_ids])).logits[0, :-1].float(), -1)
    expected = float((log_base.exp() * (log_base - log_tuned)).sum())
    assert forward.kl[0] == pytest.approx(expected, rel=1e-4)
    assert forward.kl[0] != pytest.approx(backward.kl[0], rel=1e-3)
