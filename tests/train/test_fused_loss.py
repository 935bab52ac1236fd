"""The fused output-projection + cross-entropy gives the loss and gradients of the plain computation."""

import pytest
import torch
import torch.nn.functional as F

from adaptlab.train import loss as loss_module
from adaptlab.train.loss import FusedLinearCrossEntropy


def plain_loss(hidden, weight, targets):
    return F.cross_entropy((hidden @ weight.T).float(), targets, reduction="sum")


@pytest.mark.parametrize("chunk_tokens", [4, 7, 64])
def test_fused_loss_and_gradients_equal_the_plain_ones(monkeypatch, chunk_tokens):
    monkeypatch.setattr(loss_module, "LOGIT_CHUNK_TOKENS", chunk_tokens)
    torch.manual_seed(0)
    hidden, weight = torch.randn(23, 16, requires_grad=True), torch.randn(50, 16, requires_grad=True)
    targets = torch.randint(0, 50, (23,))
    expected = plain_loss(hidden, weight, targets)
    expected_grads = torch.autograd.grad(expected * 0.3, (hidden, weight))
    actual = FusedLinearCrossEntropy.apply(hidden, weight, targets)
    actual_grads = torch.autograd.grad(actual * 0.3, (hidden, weight))
    torch.testing.assert_close(actual, expected)
    for got, want in zip(actual_grads, expected_grads):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_frozen_weight_gets_no_gradient():
    hidden, weight = torch.randn(5, 8, requires_grad=True), torch.randn(11, 8)
    FusedLinearCrossEntropy.apply(hidden, weight, torch.randint(0, 11, (5,))).backward()
    assert hidden.grad is not None and weight.grad is None


def test_under_bf16_autocast_close_to_the_plain_computation():
    torch.manual_seed(1)
    hidden, weight = torch.randn(20, 32, requires_grad=True), torch.randn(40, 32, requires_grad=True)
    targets = torch.randint(0, 40, (20,))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        expected_grads = torch.autograd.grad(plain_loss(hidden, weight, targets), (hidden, weight))
        actual_grads = torch.autograd.grad(FusedLinearCrossEntropy.apply(hidden, weight, targets), (hidden, weight))
    for got, want in zip(actual_grads, expected_grads):
        assert got.dtype == want.dtype
        torch.testing.assert_close(got, want, atol=2e-2, rtol=2e-2)


def test_target_token_loss_gives_the_model_the_gradients_of_plain_cross_entropy(tiny_model):
    """Full fine-tuning of a model with tied input/output embeddings: every parameter's gradient
    through the fused loss equals the one through the model's own logits."""
    from adaptlab.models import load_causal_lm
    from adaptlab.train.loss import TargetTokenLoss

    model = load_causal_lm(tiny_model.path).train()
    assert model.get_output_embeddings().weight is model.get_input_embeddings().weight, "the test needs tied weights"
    torch.manual_seed(0)
    input_ids = torch.randint(3, model.config.vocab_size, (2, 24))
    labels = input_ids.clone()
    labels[:, :6] = -100

    def gradients(loss):
        model.zero_grad()
        loss.backward()
        return {name: param.grad.clone() for name, param in model.named_parameters()}

    fused = gradients(TargetTokenLoss(model)(input_ids=input_ids, labels=labels))
    logits = model(input_ids=input_ids, use_cache=False).logits
    plain = gradients(F.cross_entropy(logits[:, :-1].flatten(0, 1), labels[:, 1:].flatten(), ignore_index=-100, reduction="sum"))
    assert fused.keys() == plain.keys()
    for name in plain:
        torch.testing.assert_close(fused[name], plain[name], atol=1e-5, rtol=1e-4, msg=name)
