"""Batches for the training loop: padded rows, or several examples packed into one row.

Packed rows carry `position_ids` that restart at 0 for each example and no `attention_mask`; transformers then
builds a block-diagonal causal mask from the restarts (masking_utils.find_packed_sequence_indices), so no example
attends to another. That detection only runs without a KV cache: call the model with `use_cache=False`.
"""

from typing import TYPE_CHECKING

from adaptlab.data.example import IGNORE_INDEX, Example
from adaptlab.errors import DataError

if TYPE_CHECKING:
    from torch import Tensor

    from adaptlab.data.classification import LabelledText


def pad_batch(examples: list[Example], pad_token_id: int) -> dict[str, "Tensor"]:
    """input_ids, labels (IGNORE_INDEX on padding) and attention_mask, right-padded to the longest example."""
    import torch

    if not examples:
        raise ValueError("pad_batch: no examples")
    shape = (len(examples), max(len(example) for example in examples))
    input_ids = torch.full(shape, pad_token_id, dtype=torch.long)
    labels = torch.full(shape, IGNORE_INDEX, dtype=torch.long)
    attention_mask = torch.zeros(shape, dtype=torch.long)
    for row, example in enumerate(examples):
        length = len(example)
        input_ids[row, :length] = torch.tensor(example.input_ids, dtype=torch.long)
        labels[row, :length] = torch.tensor(example.labels, dtype=torch.long)
        attention_mask[row, :length] = 1
    return {"input_ids": input_ids, "labels": labels, "attention_mask": attention_mask}


def labelled_batch(examples: list["LabelledText"], pad_token_id: int, pad_to_multiple_of: int = 1) -> dict[str, "Tensor"]:
    """A classification micro-batch: input_ids and attention_mask right-padded to the longest text (rounded up to
    `pad_to_multiple_of`); labels (one per row)."""
    import torch

    if not examples:
        raise ValueError("labelled_batch: no examples")
    longest = max(len(example) for example in examples)
    shape = (len(examples), -(-longest // pad_to_multiple_of) * pad_to_multiple_of)
    input_ids = torch.full(shape, pad_token_id, dtype=torch.long)
    attention_mask = torch.zeros(shape, dtype=torch.long)
    for row, example in enumerate(examples):
        input_ids[row, : len(example)] = torch.tensor(example.input_ids, dtype=torch.long)
        attention_mask[row, : len(example)] = 1
    labels = torch.tensor([example.label for example in examples], dtype=torch.long)
    return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}


def pack_examples(examples: list[Example], max_seq_len: int) -> list[list[Example]]:
    """Greedy, in order: each example joins the current bin while the bin's total stays <= max_seq_len."""
    bins: list[list[Example]] = []
    current: list[Example] = []
    current_tokens = 0
    for example in examples:
        if len(example) > max_seq_len:
            raise DataError(
                f"an example of {len(example)} tokens cannot be packed into max_seq_len {max_seq_len}; "
                "prepare the data with the same max_seq_len as training"
            )
        if current and current_tokens + len(example) > max_seq_len:
            bins.append(current)
            current, current_tokens = [], 0
        current.append(example)
        current_tokens += len(example)
    if current:
        bins.append(current)
    return bins


def packed_batch(bins: list[list[Example]], pad_token_id: int, max_seq_len: int | None = None) -> dict[str, "Tensor"]:
    """input_ids, labels and position_ids, one row per bin, padded to the longest row (or to max_seq_len).

    Each example's first label is IGNORE_INDEX so no example learns from its predecessor's last token; padding
    has IGNORE_INDEX labels and position_ids counting from 0, so it forms a segment of its own."""
    import torch

    if not bins:
        raise ValueError("packed_batch: no bins")
    rows = [_packed_row(examples) for examples in bins]
    longest = max(len(input_ids) for input_ids, _, _ in rows)
    length = longest if max_seq_len is None else max_seq_len
    if longest > length:
        raise DataError(f"a packed row of {longest} tokens exceeds max_seq_len {length}; pack with the same max_seq_len")
    batch = {name: torch.empty((len(rows), length), dtype=torch.long) for name in ("input_ids", "labels", "position_ids")}
    for row, (input_ids, labels, position_ids) in enumerate(rows):
        padding = length - len(input_ids)
        batch["input_ids"][row] = torch.tensor(input_ids + [pad_token_id] * padding)
        batch["labels"][row] = torch.tensor(labels + [IGNORE_INDEX] * padding)
        batch["position_ids"][row] = torch.tensor(position_ids + list(range(padding)))
    return batch


def count_target_tokens(batch: dict[str, "Tensor"]) -> int:
    """Tokens whose shifted label is not IGNORE_INDEX: what the causal-LM loss is averaged over."""
    return int((batch["labels"][:, 1:] != IGNORE_INDEX).sum())


def _packed_row(examples: list[Example]) -> tuple[list[int], list[int], list[int]]:
    input_ids: list[int] = []
    labels: list[int] = []
    position_ids: list[int] = []
    for example in examples:
        input_ids += example.input_ids
        labels += [IGNORE_INDEX, *example.labels[1:]]
        position_ids += range(len(example))
    return input_ids, labels, position_ids
