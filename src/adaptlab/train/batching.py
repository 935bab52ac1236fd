"""The order of micro-batches: a pure function of (examples, seed, epoch), so a resumed run sees
exactly the batches the interrupted one would have."""

import random
from dataclasses import dataclass, field

import torch

from adaptlab.data import Example, count_target_tokens, pack_examples, packed_batch, pad_batch


@dataclass(frozen=True)
class MicroBatch:
    tensors: dict[str, torch.Tensor]
    tokens: int = field(metadata={"help": "non-padding tokens"})
    target_tokens: int = field(metadata={"help": "tokens that carry loss"})


@dataclass(frozen=True)
class BatchPlan:
    micro_batch_size: int
    grad_accum: int
    world_size: int
    packing: bool
    max_seq_len: int
    pad_token_id: int

    @property
    def micro_batches_per_step(self) -> int:
        return self.grad_accum * self.world_size

    def epoch_micro_batches(self, examples: list[Example], seed: int, epoch: int) -> list[list]:
        """The epoch's micro-batches in order: lists of examples (or of packed bins)."""
        order = list(range(len(examples)))
        random.Random(f"{seed}:{epoch}").shuffle(order)
        shuffled = [examples[i] for i in order]
        rows = pack_examples(shuffled, self.max_seq_len) if self.packing else shuffled
        return [rows[i : i + self.micro_batch_size] for i in range(0, len(rows), self.micro_batch_size)]

    def steps_per_epoch(self, examples: list[Example]) -> int:
        return len(self.epoch_micro_batches(examples, 0, 0)) // self.micro_batches_per_step

    def collate(self, rows: list) -> "MicroBatch":
        examples = [example for row in rows for example in (row if self.packing else [row])]
        tensors = packed_batch(rows, self.pad_token_id) if self.packing else pad_batch(rows, self.pad_token_id)
        return MicroBatch(
            tensors=tensors,
            tokens=sum(len(example.input_ids) for example in examples),
            target_tokens=count_target_tokens(tensors),
        )

    def iterate_steps(self, examples: list[Example], seed: int, start_step: int, total_steps: int, rank: int):
        """Yield (step, this process's collated micro-batches) for steps start_step..total_steps-1."""
        per_epoch = self.steps_per_epoch(examples)
        epoch, micro_batches = -1, []
        for step in range(start_step, total_steps):
            step_epoch, step_in_epoch = divmod(step, per_epoch)
            if step_epoch != epoch:
                epoch, micro_batches = step_epoch, self.epoch_micro_batches(examples, seed, step_epoch)
            first = step_in_epoch * self.micro_batches_per_step
            group = micro_batches[first : first + self.micro_batches_per_step]
            yield step, [self.collate(rows) for rows in group[rank :: self.world_size]]
