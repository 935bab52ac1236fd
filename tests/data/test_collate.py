"""Padding and packing: shapes, labels, position_ids, and proof that packed examples do not see each other."""

import random

import pytest
import torch

from adaptlab.data import IGNORE_INDEX, Example, count_target_tokens, pack_examples, packed_batch, pad_batch
from adaptlab.errors import DataError

PAD = 0


def example(length: int, first_target: int = 0, seed: int = 0) -> Example:
    rng = random.Random(seed * 1000 + length)
    input_ids = [rng.randrange(1, 256) for _ in range(length)]
    labels = [IGNORE_INDEX] * first_target + input_ids[first_target:]
    return Example(input_ids, labels)


def test_pad_batch_pads_right_with_ignored_labels():
    batch = pad_batch([example(3), example(5, first_target=2)], PAD)
    assert {name: tuple(tensor.shape) for name, tensor in batch.items()} == {
        "input_ids": (2, 5), "labels": (2, 5), "attention_mask": (2, 5)
    }  # fmt: skip
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]
    assert batch["input_ids"][0, 3:].tolist() == [PAD, PAD]
    assert batch["labels"][0, 3:].tolist() == [IGNORE_INDEX, IGNORE_INDEX]
    assert batch["labels"][1, :2].tolist() == [IGNORE_INDEX, IGNORE_INDEX]
    assert count_target_tokens(batch) == 2 + 3


def test_pack_examples_is_greedy_in_order_and_never_exceeds_max_seq_len():
    lengths = [random.Random(3).randrange(1, 17) for _ in range(200)]
    examples = [example(length, seed=index) for index, length in enumerate(lengths)]
    bins = pack_examples(examples, 16)
    assert [item for packed in bins for item in packed] == examples
    assert all(sum(map(len, packed)) <= 16 for packed in bins)
    # greedy: the next example would not have fitted into the previous bin
    assert all(sum(map(len, previous)) + len(current[0]) > 16 for previous, current in zip(bins, bins[1:]))
    assert pack_examples(examples, 16) == bins
    assert [[len(item) for item in packed] for packed in pack_examples([example(5), example(9), example(3), example(7)], 16)] == [
        [5, 9], [3, 7]
    ]  # fmt: skip


def test_pack_examples_refuses_an_example_longer_than_max_seq_len():
    with pytest.raises(DataError, match="an example of 17 tokens cannot be packed into max_seq_len 16"):
        pack_examples([example(17)], 16)


def test_packed_batch_restarts_positions_and_masks_each_first_label():
    bins = [[example(3), example(2, first_target=1)], [example(4)]]
    batch = packed_batch(bins, PAD)
    assert set(batch) == {"input_ids", "labels", "position_ids"}
    assert batch["position_ids"].tolist() == [[0, 1, 2, 0, 1], [0, 1, 2, 3, 0]]
    first, second = bins[0]
    assert batch["input_ids"][0].tolist() == first.input_ids + second.input_ids
    assert batch["labels"][0].tolist() == [IGNORE_INDEX, *first.input_ids[1:], IGNORE_INDEX, second.input_ids[1]]
    assert batch["input_ids"][1, 4].item() == PAD and batch["labels"][1, 4].item() == IGNORE_INDEX
    assert count_target_tokens(batch) == 2 + 1 + 3


def test_packed_batch_pads_to_max_seq_len_with_a_padding_segment_of_its_own():
    batch = packed_batch([[example(3)]], PAD, max_seq_len=6)
    assert batch["position_ids"].tolist() == [[0, 1, 2, 0, 1, 2]]
    assert batch["labels"][0, 3:].tolist() == [IGNORE_INDEX] * 3
    with pytest.raises(DataError, match="exceeds max_seq_len 2"):
        packed_batch([[example(3)]], PAD, max_seq_len=2)


@pytest.mark.parametrize("attn_implementation", ["sdpa", "eager"])
def test_packed_examples_have_the_logits_they_have_alone(tiny_model, attn_implementation):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model.path, attn_implementation=attn_implementation).eval()
    examples = [example(length, seed=7) for length in (5, 9, 3, 7, 6)]
    bins = pack_examples(examples, 16)
    assert max(len(packed) for packed in bins) > 1
    batch = packed_batch(bins, pad_token_id=model.config.pad_token_id)
    with torch.no_grad():
        packed_logits = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"], use_cache=False).logits
        for row, packed in enumerate(bins):
            offset = 0
            for item in packed:
                alone = model(input_ids=torch.tensor([item.input_ids]), use_cache=False).logits[0]
                torch.testing.assert_close(packed_logits[row, offset : offset + len(item)], alone, atol=1e-5, rtol=0)
                offset += len(item)
