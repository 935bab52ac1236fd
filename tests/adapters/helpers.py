"""Logits on a fixed token sequence: how the adapter tests compare models."""

import torch

PROBE_IDS = torch.tensor([[5, 72, 101, 108, 108, 111, 32, 119, 111, 114, 108, 100]])


def logits(model, ids: torch.Tensor = PROBE_IDS) -> torch.Tensor:
    with torch.inference_mode():
        return model(input_ids=ids.to(next(model.parameters()).device)).logits.float().cpu()


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max())
