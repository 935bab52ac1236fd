"""Held-out rows that equal or nearly equal a training row: counted, and dropped with `decontaminate`."""

from adaptlab.data import DataOptions, prepare_data

from .support import write_jsonl


def sentence(number: int) -> str:
    return f"row {number} says the {['red', 'green', 'blue', 'grey'][number % 4]} fox number {number} jumps over fence {number * 7}"


def files(tmp_path):
    train = [{"prompt": sentence(number), "completion": f"answer {number}"} for number in range(20)]
    held_out = [{"prompt": sentence(number), "completion": f"answer {number}"} for number in range(100, 105)]
    shared = [
        train[0],
        train[3],
        {"prompt": sentence(5).upper(), "completion": "answer 5"},  # equal after case and whitespace
        {"prompt": "  " + sentence(7) + "  ", "completion": "answer 7"},
        {"prompt": sentence(9), "completion": "answer nine"},  # nearly equal: 10 of 12 word 3-grams shared
    ]
    return (
        write_jsonl(tmp_path / "train.jsonl", train),
        write_jsonl(tmp_path / "eval.jsonl", held_out[:2] + shared + held_out[2:]),
    )


def test_held_out_rows_shared_with_training_are_counted(tmp_path, tiny_tokenizer):
    train, held_out = files(tmp_path)
    info = prepare_data([train], [held_out], tiny_tokenizer, DataOptions()).info
    contamination = info.quality.contamination
    assert (contamination.eval_rows, contamination.exact, contamination.near, contamination.dropped) == (10, 4, 1, 0)
    assert contamination.contaminated == 5
    assert contamination.pairs[0] == f"{held_out}:3 = {train}:1"
    assert contamination.pairs[4].startswith(f"{held_out}:7 ≈ (")
    assert info.eval_examples == 10


def test_decontaminate_drops_exactly_the_shared_rows(tmp_path, tiny_tokenizer):
    train, held_out = files(tmp_path)
    prepared = prepare_data([train], [held_out], tiny_tokenizer, DataOptions(decontaminate=True))
    assert prepared.info.quality.contamination.dropped == 5
    assert prepared.info.eval_examples == 5
    kept = {tiny_tokenizer.decode(example.input_ids) for example in prepared.eval}
    assert all(sentence(number) in "".join(kept) for number in range(100, 105))
    assert not any(f"row {number} says" in "".join(kept) for number in (0, 3, 5, 7, 9))
    assert prepared.info.train_examples == 20


def test_without_eval_files_nothing_is_checked(tmp_path, tiny_tokenizer):
    train, _ = files(tmp_path)
    info = prepare_data([train], [], tiny_tokenizer, DataOptions(dedup="off")).info
    assert info.quality.contamination.eval_rows == 0
