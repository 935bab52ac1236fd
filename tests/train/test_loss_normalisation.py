"""The gradient-accumulation trap: k micro-batches of b must give the gradient of one batch of k·b.

The loss is summed over target tokens and divided by the target tokens of the whole optimizer step,
so micro-batches with different numbers of target tokens are weighted correctly.
"""

import copy

import pytest
import torch
from accelerate import Accelerator
from rich.console import Console

from adaptlab.data import prepare_data
from adaptlab.methods import get_method
from adaptlab.models import load_tokenizer
from adaptlab.train.batching import BatchPlan
from adaptlab.train.loop import train, train_step
from adaptlab.train.loss import TargetTokenLoss
from tests.train.helpers import tiny_config

QUIET = Console(quiet=True)


def sgd_update(model, micro_batches) -> dict[str, torch.Tensor]:
    """Parameter change of one SGD step with lr=1 and no clipping: exactly minus the gradient."""
    model = copy.deepcopy(model)
    before = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1.0)
    train_step(Accelerator(cpu=True), TargetTokenLoss(model), optimizer, micro_batches, max_grad_norm=None)
    return {n: p.detach() - before[n] for n, p in model.named_parameters() if p.requires_grad}


@pytest.fixture
def setup(tmp_path, tiny_model):
    config = tiny_config(tmp_path, "lora", dropout=0.0)
    tokenizer = load_tokenizer(tiny_model.path)
    data = prepare_data(config.data, [], tokenizer, config)
    model = get_method("lora").prepare(tiny_model, config)
    for name, param in model.named_parameters():  # a fresh LoRA has B = 0; give B values so A gets gradients too
        if "lora_B" in name:
            torch.nn.init.normal_(param, std=0.1)
    plan = lambda micro, accum: BatchPlan(micro, accum, 1, False, config.max_seq_len, tokenizer.pad_token_id)  # noqa: E731
    return model, data, plan


def test_accumulated_gradient_equals_one_big_batch(setup):
    model, data, plan = setup
    _, big = next(plan(8, 1).iterate_steps(data.train, 0, 0, 1, 0))
    _, small = next(plan(2, 4).iterate_steps(data.train, 0, 0, 1, 0))
    assert len(big) == 1 and len(small) == 4
    assert len({mb.target_tokens for mb in small}) > 1, "micro-batches must differ in target tokens for this test to bite"
    expected, actual = sgd_update(model, big), sgd_update(model, small)
    for name in expected:
        torch.testing.assert_close(actual[name], expected[name], atol=1e-6, rtol=1e-5)


def test_averaging_per_micro_batch_would_differ(setup):
    """The control: the naive mean-of-means normalisation gives a different gradient on the same data."""
    model, data, plan = setup
    _, big = next(plan(8, 1).iterate_steps(data.train, 0, 0, 1, 0))
    _, small = next(plan(2, 4).iterate_steps(data.train, 0, 0, 1, 0))
    expected = sgd_update(model, big)
    naive = {n: torch.zeros_like(t) for n, t in expected.items()}
    for micro_batch in small:
        for name, delta in sgd_update(model, [micro_batch]).items():
            naive[name] += delta / len(small)
    assert any(not torch.allclose(naive[n], expected[n], atol=1e-6, rtol=1e-5) for n in expected)


def test_accumulated_run_follows_the_big_batch_loss_curve(tmp_path):
    big = train(tiny_config(tmp_path, "lora", out=tmp_path / "big", micro_batch_size=8, grad_accum=1, max_steps=4), console=QUIET)
    small = train(tiny_config(tmp_path, "lora", out=tmp_path / "small", micro_batch_size=2, grad_accum=4, max_steps=4), console=QUIET)
    assert [p.tokens_seen for p in small.record.loss_curve] == [p.tokens_seen for p in big.record.loss_curve]
    assert [p.loss for p in small.record.loss_curve] == pytest.approx([p.loss for p in big.record.loss_curve], abs=1e-5)
