"""The order of micro-batches: a pure function of (examples, seed, epoch), so a resumed run sees
exactly the batches the interrupted one would have.

With packing, the examples are packed once, in data order, and the packs are shuffled per (seed, epoch),
as torchtune's `PackedDataset` does: the number of rows, hence of steps, is then the same for every seed,
epoch and number of processes, and every process gets `grad_accum` micro-batches at every step. The rows
that do not fill a last whole step are left out of that epoch (different rows each epoch).

Grouped by length (unpacked rows, `--group-by-length`), as Hugging Face's LengthGroupedSampler does: the shuffled
rows are cut into spans of LENGTH_GROUP_BATCHES micro-batches, each span sorted by length and cut into micro-batches,
and the micro-batches shuffled, so a micro-batch pads its rows to nearly their own length. The rows of a micro-batch
are then alike in length, which (where length goes with the label) makes each step's gradient noisier."""

import random
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from adaptlab.data import Example, count_target_tokens, pack_examples, packed_batch, pad_batch

LENGTH_GROUP_BATCHES = 50  # micro-batches per span sorted by length (LengthGroupedSampler's mega-batch)


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
    collate_rows: Callable[[list], "MicroBatch"] | None = None  # an objective's own batches; default: padded or packed LM rows
    group_by_length: bool = False  # micro-batches of rows of similar length (unpacked rows only)

    @property
    def micro_batches_per_step(self) -> int:
        return self.grad_accum * self.world_size

    def rows(self, examples: list[Example]) -> list:
        """What a micro-batch holds rows of: packed bins (packed once, whatever the seed or epoch), or examples."""
        return pack_examples(examples, self.max_seq_len) if self.packing else list(examples)

    def epoch_micro_batches(self, rows: list, seed: int, epoch: int) -> list[list]:
        """The epoch's micro-batches in order: the rows shuffled by (seed, epoch), cut into micro-batches (grouped by
        length: within spans of LENGTH_GROUP_BATCHES micro-batches, then the micro-batches shuffled)."""
        shuffled = list(rows)
        rng = random.Random(f"{seed}:{epoch}")
        rng.shuffle(shuffled)
        grouped = self.group_by_length and not self.packing
        if grouped:
            span = self.micro_batch_size * LENGTH_GROUP_BATCHES
            shuffled = [row for start in range(0, len(shuffled), span) for row in sorted(shuffled[start : start + span], key=len)]
        micro_batches = [shuffled[i : i + self.micro_batch_size] for i in range(0, len(shuffled), self.micro_batch_size)]
        if grouped:
            rng.shuffle(micro_batches)
        return micro_batches

    def steps_per_epoch(self, examples: list[Example]) -> int:
        return self._steps_per_epoch(len(self.rows(examples)))

    def _steps_per_epoch(self, row_count: int) -> int:
        micro_batches = -(-row_count // self.micro_batch_size)
        return micro_batches // self.micro_batches_per_step

    def collate(self, rows: list) -> "MicroBatch":
        if self.collate_rows is not None:
            return self.collate_rows(rows)
        examples = [example for row in rows for example in (row if self.packing else [row])]
        tensors = packed_batch(rows, self.pad_token_id) if self.packing else pad_batch(rows, self.pad_token_id)
        return MicroBatch(
            tensors=tensors,
            tokens=sum(len(example.input_ids) for example in examples),
            target_tokens=count_target_tokens(tensors),
        )

    def iterate_steps(self, examples: list[Example], seed: int, start_step: int, total_steps: int, rank: int):
        """Yield (step, this process's `grad_accum` collated micro-batches) for steps start_step..total_steps-1."""
        rows = self.rows(examples)
        per_epoch = self._steps_per_epoch(len(rows))
        epoch, micro_batches = -1, []
        for step in range(start_step, total_steps):
            step_epoch, step_in_epoch = divmod(step, per_epoch)
            if step_epoch != epoch:
                epoch, micro_batches = step_epoch, self.epoch_micro_batches(rows, seed, step_epoch)
            first = step_in_epoch * self.micro_batches_per_step
            group = micro_batches[first : first + self.micro_batches_per_step]
            yield step, [self.collate(batch_rows) for batch_rows in group[rank :: self.world_size]]
