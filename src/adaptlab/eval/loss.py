"""Held-out loss and perplexity: mean next-token cross-entropy over target tokens."""

import math
from dataclasses import dataclass

import torch
from torch import nn

from adaptlab.data import Example, count_target_tokens, pad_batch
from adaptlab.train.loss import TargetTokenLoss


@dataclass(frozen=True)
class LossResult:
    loss: float
    perplexity: float
    target_tokens: int


@torch.no_grad()
def evaluate_loss(model: nn.Module, examples: list[Example], pad_token_id: int, batch_size: int = 8, autocast_dtype=None) -> LossResult:
    """Works on a plain model, a PEFT model, or an existing TargetTokenLoss wrapper."""
    loss_fn = model if isinstance(model, TargetTokenLoss) else TargetTokenLoss(model)
    was_training = loss_fn.training
    loss_fn.eval()
    device = next(loss_fn.parameters()).device
    total, tokens = 0.0, 0
    for start in range(0, len(examples), batch_size):
        batch = {k: v.to(device) for k, v in pad_batch(examples[start : start + batch_size], pad_token_id).items()}
        with torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
            total += float(loss_fn(**batch))
        tokens += count_target_tokens(batch)
    loss_fn.train(was_training)
    if tokens == 0:
        return LossResult(loss=float("nan"), perplexity=float("nan"), target_tokens=0)
    mean = total / tokens
    return LossResult(loss=mean, perplexity=math.exp(min(mean, 50.0)), target_tokens=tokens)


def example_losses(model: nn.Module, examples: list[Example], pad_token_id: int, autocast_dtype=None) -> list[LossResult]:
    """One result per example, in order: what a bootstrap over examples resamples (their token-weighted mean is evaluate_loss's)."""
    return [evaluate_loss(model, [example], pad_token_id, batch_size=1, autocast_dtype=autocast_dtype) for example in examples]
