"""Summed next-token cross-entropy over target tokens only.

Logits are computed only where a label exists, a chunk of tokens at a time. In training the
output projection and the cross-entropy are fused: each chunk's gradients are computed in the
forward pass, so no logits or softmax are kept for backward and peak memory holds one chunk's
logits (LOGIT_CHUNK_TOKENS × vocabulary), not one per target token.
The loop divides the sum by the number of target tokens in the whole optimizer step, across
micro-batches and processes, so gradient accumulation matches one big batch exactly.
"""

import torch
import torch.nn.functional as F
from torch import nn

from adaptlab.data import IGNORE_INDEX

LOGIT_CHUNK_TOKENS = 512


class TargetTokenLoss(nn.Module):
    """Wraps a causal LM (plain or PEFT). forward() returns the summed loss; one module for DDP to wrap."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        language_model = model.get_base_model() if hasattr(model, "get_base_model") else model
        self.decoder = language_model.get_decoder()
        self.lm_head = language_model.get_output_embeddings()
        self.adds_virtual_tokens = adds_virtual_tokens(model)

    def forward(self, input_ids, labels, attention_mask=None, position_ids=None) -> torch.Tensor:
        hidden = self.hidden_states(input_ids, attention_mask, position_ids)
        targets = labels[:, 1:]
        selected = targets != IGNORE_INDEX
        hidden_at_targets = hidden[:, :-1][selected]
        target_ids = targets[selected]
        if torch.is_grad_enabled() and is_plain_projection(self.lm_head):
            return FusedLinearCrossEntropy.apply(hidden_at_targets, self.lm_head.weight, target_ids)
        total = hidden.new_zeros((), dtype=torch.float32)
        for rows in chunks(target_ids.numel()):
            logits = self.lm_head(hidden_at_targets[rows])
            total = total + F.cross_entropy(logits.float(), target_ids[rows], reduction="sum")
        return total

    def parameters_read_outside_their_module(self) -> list[nn.Parameter]:
        """Weights this module's forward reads directly, not by calling their module (ZeRO-3 must gather them for it):
        the fused loss multiplies by the output layer's weight."""
        return [self.lm_head.weight] if is_plain_projection(self.lm_head) else []

    def hidden_states(self, input_ids, attention_mask, position_ids) -> torch.Tensor:
        """The decoder's last hidden states at the input's positions."""
        if not self.adds_virtual_tokens:
            # use_cache=False: with a KV cache transformers skips packed-sequence detection, and packed examples would see each other
            return self.decoder(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids, use_cache=False).last_hidden_state
        # Prompt/prefix tuning: only PEFT's own forward adds the virtual tokens (as inputs or as cached keys and values).
        # The decoder's output is caught on the way; the output layer runs on one position only (logits_to_keep=1).
        caught = []
        handle = self.decoder.register_forward_hook(lambda module, args, output: caught.append(output.last_hidden_state))
        try:
            self.model(input_ids=input_ids, attention_mask=attention_mask, logits_to_keep=1)
        finally:
            handle.remove()
        hidden = caught[-1]
        return hidden[:, hidden.shape[1] - input_ids.shape[1] :]  # prompt tuning's virtual positions come first


def adds_virtual_tokens(model: nn.Module) -> bool:
    """A PEFT prompt-learning model (prompt or prefix tuning), whose forward pass adds virtual tokens."""
    config = getattr(model, "active_peft_config", None)
    return bool(getattr(config, "is_prompt_learning", False))


def is_plain_projection(module: nn.Module) -> bool:
    """An unadapted, unquantized bias-free linear output layer: its math is `hidden @ weight.T`."""
    return type(module) is nn.Linear and module.bias is None


def chunks(total: int) -> list[slice]:
    return [slice(start, start + LOGIT_CHUNK_TOKENS) for start in range(0, total, LOGIT_CHUNK_TOKENS)]


class FusedLinearCrossEntropy(torch.autograd.Function):
    """sum(cross_entropy(hidden @ weight.T, targets)), with both gradients computed chunk by chunk in
    forward (d loss / d logits = softmax − one-hot) and only scaled in backward. Matmuls follow the
    autocast state, as the unfused `lm_head` call would."""

    @staticmethod
    def forward(ctx, hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        needs_hidden_grad, needs_weight_grad = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        grad_hidden = torch.zeros_like(hidden) if needs_hidden_grad else None
        grad_weight = torch.zeros_like(weight, dtype=torch.float32) if needs_weight_grad else None
        total = hidden.new_zeros((), dtype=torch.float32)
        for rows in chunks(targets.numel()):
            chunk, chunk_targets = hidden[rows], targets[rows]
            logits = (chunk @ weight.T).float()
            log_normaliser = torch.logsumexp(logits, dim=-1)
            total += (log_normaliser - logits.gather(1, chunk_targets[:, None]).squeeze(1)).sum()
            grad_logits = logits.sub_(log_normaliser[:, None]).exp_()  # softmax, in place of the logits
            grad_logits[torch.arange(len(chunk_targets), device=grad_logits.device), chunk_targets] -= 1.0
            if needs_hidden_grad:
                grad_hidden[rows] = grad_logits @ weight
            if needs_weight_grad:
                grad_weight += grad_logits.T @ chunk
        ctx.save_for_backward(grad_hidden, grad_weight)
        ctx.weight_dtype = weight.dtype
        return total

    @staticmethod
    def backward(ctx, grad_total: torch.Tensor):
        grad_hidden, grad_weight = ctx.saved_tensors
        return (
            None if grad_hidden is None else grad_hidden * grad_total,
            None if grad_weight is None else (grad_weight * grad_total).to(ctx.weight_dtype),
            None,
        )
