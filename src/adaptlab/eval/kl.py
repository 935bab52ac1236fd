"""A tuned model's next-token distributions against its base's, on the same tokens.

One paired pass gives, per example and summed over its target positions: KL(base ‖ tuned) of the
next-token distributions (Shenfeld et al. 2025, "RL's Razor": this KL predicts forgetting better than
weight-change measures) and both models' cross-entropy, so forgetting and KL come from the same tokens.
"""

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from adaptlab.data import Example, pad_batch
from adaptlab.data.example import IGNORE_INDEX

PAIRED_BATCH_SIZE = 4


@dataclass(frozen=True)
class PairedTokenSums:
    """Per-example sums over target positions (one entry per example, in order)."""

    base_loss: np.ndarray
    tuned_loss: np.ndarray
    kl: np.ndarray
    tokens: np.ndarray


@torch.no_grad()
def paired_token_sums(base: nn.Module, tuned: nn.Module, examples: list[Example], pad_token_id: int,
                      batch_size: int = PAIRED_BATCH_SIZE, autocast_dtype: torch.dtype | None = None,
                      on_batch: Callable[[int], None] | None = None) -> PairedTokenSums:
    """KL(base ‖ tuned) = Σ_v p_base(v) (log p_base(v) − log p_tuned(v)) at every target position, and both losses.

    `autocast_dtype` (bf16 for runs that trained in bf16) runs both forward passes under autocast; the log-softmax,
    KL and losses stay in float32. `on_batch(examples_done)` is called after each batch (for progress)."""
    columns: dict[str, list[torch.Tensor]] = {"base_loss": [], "tuned_loss": [], "kl": [], "tokens": []}
    for start in range(0, len(examples), batch_size):
        batch = pad_batch(examples[start : start + batch_size], pad_token_id)
        targets = batch["labels"][:, 1:]
        mask = targets != IGNORE_INDEX
        base_log_probs = next_token_log_probs(base, batch, autocast_dtype)
        tuned_log_probs = next_token_log_probs(tuned, batch, autocast_dtype)
        kl = F.kl_div(tuned_log_probs, base_log_probs, log_target=True, reduction="none").sum(-1)
        columns["kl"].append((kl * mask).sum(1))
        columns["base_loss"].append(_target_loss(base_log_probs, targets, mask))
        columns["tuned_loss"].append(_target_loss(tuned_log_probs, targets, mask))
        columns["tokens"].append(mask.sum(1))
        if on_batch is not None:
            on_batch(len(targets))
    return PairedTokenSums(**{name: torch.cat(values).double().numpy() for name, values in columns.items()})


def next_token_log_probs(model: nn.Module, batch: dict[str, torch.Tensor], autocast_dtype: torch.dtype | None = None) -> torch.Tensor:
    """log softmax of the logits predicting positions 1..T (float32, on the CPU): [batch, T − 1, vocabulary]."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    input_ids = batch["input_ids"].to(device)
    with torch.autocast(device.type, dtype=autocast_dtype) if autocast_dtype is not None else nullcontext():
        logits = model(input_ids=input_ids, attention_mask=batch["attention_mask"].to(device), use_cache=False).logits
    model.train(was_training)
    logits = logits[:, logits.shape[1] - input_ids.shape[1] :]  # prompt tuning returns its virtual positions first
    return torch.log_softmax(logits[:, :-1].float(), dim=-1).cpu()


def _target_loss(log_probs: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    picked = log_probs.gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return -(picked * mask).sum(1)
