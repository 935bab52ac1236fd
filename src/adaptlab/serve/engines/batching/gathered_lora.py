"""Per-row LoRA updates as one gathered batched matmul pair per Linear (BGMV-style, in plain PyTorch ops).

For a batch whose rows use different adapters, each row's A and B are gathered into per-row stacks once
per routing (the rows' adapters, in order), and every forward pass over that routing computes all rows'
updates with two `torch.bmm`: scaling · (x A_rowᵀ) B_rowᵀ. Each row does only its own adapter's work
(the stacked form in `mixed_lora` puts every row through every adapter of the batch), at the price of a
copy of the adapter weights per row, rebuilt when the routing changes. A batch whose rows all use one
adapter needs no copy: that adapter's A and B apply to every row as they are.

Written here rather than taken from a library: vLLM/Punica's BGMV kernels are CUDA-only, and PEFT's
mixed batch loops over adapters (docs/serving.md).
"""

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class SharedUpdate:
    """One adapter's update for every row: scaling · B (A x), PEFT's order of operations."""

    a: object  # [rank, in]
    b: object  # [out, rank]
    scaling: float

    def delta(self, x):
        import torch.nn.functional as F

        return F.linear(F.linear(x, self.a), self.b) * self.scaling


@dataclass(frozen=True)
class GatheredUpdate:
    """Each row's own update: row i computes scale[i] · (x_i a[i]) b[i]; rows without one have zero weights."""

    a: object  # [rows, in, rank]: each row's A, transposed, zero-padded to the largest rank
    b: object  # [rows, rank, out]: each row's B, transposed, zero-padded likewise
    scale: object  # [rows, 1, 1]: each row's scaling (0 for rows without an update)

    def delta(self, x):
        import torch

        rows = x.shape[0]
        flat = x.reshape(rows, -1, x.shape[-1])  # [rows, tokens, in]
        update = torch.bmm(torch.bmm(flat, self.a), self.b) * self.scale
        return update.reshape(*x.shape[:-1], update.shape[-1])


def row_update(per_row: Sequence[object | None]):
    """The update of one Linear for these rows (`per_row`: each row's LoraModule here, or None for none):
    a SharedUpdate when every row has the same one, else a GatheredUpdate."""
    import torch

    distinct = list({id(update): update for update in per_row if update is not None}.values())
    if len(distinct) == 1 and all(update is not None for update in per_row):
        only = distinct[0]
        return SharedUpdate(only.a, only.b, only.scaling)
    first = distinct[0].a
    rank = max(update.a.shape[0] for update in distinct)
    in_features, out_features = first.shape[1], distinct[0].b.shape[0]
    a_stack = first.new_zeros((len(distinct) + 1, in_features, rank))  # the last entry: no update
    b_stack = first.new_zeros((len(distinct) + 1, rank, out_features))
    scalings = first.new_zeros(len(distinct) + 1)
    for position, update in enumerate(distinct):
        own_rank = update.a.shape[0]
        a_stack[position, :, :own_rank] = update.a.T
        b_stack[position, :own_rank, :] = update.b.T
        scalings[position] = update.scaling
    slot = {id(update): position for position, update in enumerate(distinct)}
    index = torch.tensor([slot[id(update)] if update is not None else len(distinct) for update in per_row], device=first.device)
    return GatheredUpdate(a_stack[index].contiguous(), b_stack[index].contiguous(), scalings[index][:, None, None])
