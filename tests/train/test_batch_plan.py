"""The step plan is exact: every step of every epoch gives every process `grad_accum` micro-batches, whatever
the seed, packing or number of processes (otherwise processes wait in different collectives and hang)."""

import random

import pytest
import torch

from adaptlab.data import IGNORE_INDEX, Example
from adaptlab.train.batching import BatchPlan

MAX_SEQ_LEN = 64
SEEDS = (0, 1, 2, 3, 7)


def variable_length_examples(count: int = 335) -> list[Example]:
    rng = random.Random(11)
    examples = []
    for _ in range(count):
        input_ids = [rng.randrange(1, 256) for _ in range(rng.randint(4, MAX_SEQ_LEN // 2))]
        examples.append(Example(input_ids, [IGNORE_INDEX, *input_ids[1:]]))
    return examples


def plan(packing: bool, grad_accum: int, world_size: int, micro_batch_size: int = 1) -> BatchPlan:
    return BatchPlan(micro_batch_size, grad_accum, world_size, packing, MAX_SEQ_LEN, pad_token_id=0)


@pytest.mark.parametrize("packing", [False, True])
@pytest.mark.parametrize(("grad_accum", "world_size"), [(1, 1), (2, 1), (1, 2), (2, 2)])
def test_every_step_gives_every_process_the_same_number_of_micro_batches(packing, grad_accum, world_size):
    examples = variable_length_examples()
    step_plan = plan(packing, grad_accum, world_size)
    total_steps = 2 * step_plan.steps_per_epoch(examples)
    for seed in SEEDS:
        for rank in range(world_size):
            counts = [len(micro_batches) for _, micro_batches in step_plan.iterate_steps(examples, seed, 0, total_steps, rank)]
            assert counts == [grad_accum] * total_steps, f"seed {seed}, rank {rank}"


@pytest.mark.parametrize("packing", [False, True])
def test_an_epoch_uses_each_example_once_and_leaves_out_less_than_a_step(packing):
    examples = variable_length_examples()
    step_plan = plan(packing, grad_accum=2, world_size=2, micro_batch_size=2)
    rows = step_plan.rows(examples)
    rows_per_step = step_plan.micro_batch_size * step_plan.micro_batches_per_step
    for seed in SEEDS:
        for epoch in range(2):
            micro_batches = step_plan.epoch_micro_batches(rows, seed, epoch)
            trained = micro_batches[: step_plan.steps_per_epoch(examples) * step_plan.micro_batches_per_step]
            used = [id(row) for micro_batch in trained for row in micro_batch]
            assert len(set(used)) == len(used)
            assert 0 <= len(rows) - len(used) < rows_per_step


def test_packs_are_shuffled_per_seed_and_epoch():
    examples = variable_length_examples()
    step_plan = plan(packing=True, grad_accum=1, world_size=1)
    rows = step_plan.rows(examples)
    orders = {tuple(id(row) for batch in step_plan.epoch_micro_batches(rows, seed, epoch) for row in batch) for seed in (0, 3) for epoch in (0, 1)}
    assert len(orders) == 4


def test_resuming_mid_epoch_sees_the_same_micro_batches():
    examples = variable_length_examples()
    step_plan = plan(packing=True, grad_accum=2, world_size=2)
    total_steps = step_plan.steps_per_epoch(examples) + 5
    for rank in range(2):
        uninterrupted = list(step_plan.iterate_steps(examples, 3, 0, total_steps, rank))
        resumed = list(step_plan.iterate_steps(examples, 3, total_steps - 9, total_steps, rank))
        assert [step for step, _ in resumed] == [step for step, _ in uninterrupted[-9:]]
        for (_, expected), (_, actual) in zip(uninterrupted[-9:], resumed):
            for expected_batch, actual_batch in zip(expected, actual, strict=True):
                for name, tensor in expected_batch.tensors.items():
                    torch.testing.assert_close(actual_batch.tensors[name], tensor, rtol=0, atol=0)


def test_grouped_by_length_an_epoch_keeps_every_example_with_less_padding_and_is_a_function_of_seed_and_epoch():
    examples = variable_length_examples(1000)
    random_plan = BatchPlan(8, 1, 1, False, MAX_SEQ_LEN, pad_token_id=0)
    grouped_plan = BatchPlan(8, 1, 1, False, MAX_SEQ_LEN, pad_token_id=0, group_by_length=True)
    ids = lambda micro_batches: sorted(id(example) for batch in micro_batches for example in batch)  # noqa: E731
    padded = lambda micro_batches: sum(len(batch) * max(map(len, batch)) for batch in micro_batches)  # noqa: E731
    for epoch in (0, 1):
        grouped = grouped_plan.epoch_micro_batches(examples, 3, epoch)
        shuffled = random_plan.epoch_micro_batches(examples, 3, epoch)
        assert ids(grouped) == ids(shuffled) == sorted(map(id, examples))
        assert padded(grouped) < 0.75 * padded(shuffled)
        assert grouped == grouped_plan.epoch_micro_batches(examples, 3, epoch)
        assert [len(batch[0]) for batch in grouped] != sorted(len(batch[0]) for batch in grouped)  # the groups come in random order
    assert grouped_plan.epoch_micro_batches(examples, 3, 0) != grouped_plan.epoch_micro_batches(examples, 3, 1)
