"""Summed next-token cross-entropy over target tokens only.

Logits are computed only where a label exists (never the full [batch, seq, vocab] tensor), in chunks.
The loop divides the sum by the number of target tokens in the whole optimizer step, across
micro-batches and processes, so gradient accumulation matches one big batch exactly.
"""

import torch
import torch.nn.functional as F
from torch import nn

from adaptlab.data import IGNORE_INDEX

LOGIT_CHUNK_TOKENS = 2048


class TargetTokenLoss(nn.Module):
    """Wraps a causal LM (plain or PEFT). forward() returns the summed loss; one module for DDP to wrap."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        language_model = model.get_base_model() if hasattr(model, "get_base_model") else model
        self.decoder = language_model.get_decoder()
        self.lm_head = language_model.get_output_embeddings()

    def forward(self, input_ids, labels, attention_mask=None, position_ids=None) -> torch.Tensor:
        # use_cache=False: with a KV cache transformers skips packed-sequence detection, and packed examples would see each other
        hidden = self.decoder(
            input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids, use_cache=False
        ).last_hidden_state
        targets = labels[:, 1:]
        selected = targets != IGNORE_INDEX
        hidden_at_targets = hidden[:, :-1][selected]
        target_ids = targets[selected]
        total = hidden.new_zeros((), dtype=torch.float32)
        for start in range(0, target_ids.numel(), LOGIT_CHUNK_TOKENS):
            logits = self.lm_head(hidden_at_targets[start : start + LOGIT_CHUNK_TOKENS])
            total = total + F.cross_entropy(logits.float(), target_ids[start : start + LOGIT_CHUNK_TOKENS], reduction="sum")
        return total
