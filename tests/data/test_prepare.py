"""prepare_data end to end: bad-row budget, held-out split, provenance, and the real data sets."""

import hashlib

import pytest

from adaptlab.data import DataOptions, prepare_data
from adaptlab.errors import ConfigError, DataError

from .support import write_jsonl


def rows(count: int, start: int = 0) -> list[dict]:
    return [{"prompt": f"question {index}", "completion": f"answer {index}"} for index in range(start, start + count)]


def test_bad_rows_within_max_bad_rows_are_skipped_and_counted(tmp_path, tiny_tokenizer):
    train = write_jsonl(tmp_path / "train.jsonl", [*rows(3), {"prompt": "p"}])
    held_out = write_jsonl(tmp_path / "eval.jsonl", [{"prompt": "p", "completion": 1}, *rows(2, start=10)])
    prepared = prepare_data([train], [held_out], tiny_tokenizer, DataOptions(max_bad_rows=2))
    assert [str(bad_row) for bad_row in prepared.bad_rows] == [
        f"{train}:4: missing field 'completion'; expected prompt, completion, found: prompt",
        f"{held_out}:1: field 'completion' must be a string, got a number",
    ]
    files = [(file.path, file.role, file.rows, file.bad_rows) for file in prepared.info.files]
    assert files == [(str(train), "train", 4, 1), (str(held_out), "eval", 3, 1)]
    assert (prepared.info.train_examples, prepared.info.eval_examples) == (3, 2)
    assert (len(prepared.train), len(prepared.eval)) == (3, 2)


def test_one_bad_row_too_many_refuses_and_the_list_is_capped(tmp_path, tiny_tokenizer):
    path = write_jsonl(tmp_path / "train.jsonl", [*rows(2), *[{"prompt": "p"}] * 60])
    with pytest.raises(DataError) as raised:
        prepare_data([path], [], tiny_tokenizer, DataOptions(max_bad_rows=59))
    lines = str(raised.value).splitlines()
    assert lines[0] == "60 bad rows exceed --max-bad-rows 59; fix these rows, or raise --max-bad-rows to skip them:"
    assert lines[1].startswith(f"  {path}:3: missing field 'completion'")
    assert lines[50].startswith(f"  {path}:52: ")
    assert lines[51:] == ["  ... and 10 more"]
    assert prepare_data([path], [], tiny_tokenizer, DataOptions(max_bad_rows=60)).info.train_examples == 2


def test_max_line_bytes_reaches_the_readers(tmp_path, tiny_tokenizer):
    path = write_jsonl(tmp_path / "train.jsonl", [*rows(2), {"prompt": "long " * 20, "completion": "a"}])
    prepared = prepare_data([path], [], tiny_tokenizer, DataOptions(max_line_bytes=60, max_bad_rows=1))
    assert [str(bad_row) for bad_row in prepared.bad_rows] == [f"{path}:3: line longer than --max-line-bytes 60"]
    assert prepared.info.train_examples == 2


def test_no_usable_training_rows_is_an_error(tmp_path, tiny_tokenizer):
    path = write_jsonl(tmp_path / "train.jsonl", [{"prompt": "p"}])
    with pytest.raises(DataError, match="no usable training rows"):
        prepare_data([path], [], tiny_tokenizer, DataOptions(max_bad_rows=1))


def example_keys(examples) -> set[tuple]:
    return {tuple(example.input_ids) for example in examples}


def test_held_out_split_depends_on_seed_and_content_not_file_order(tmp_path, tiny_tokenizer):
    first = write_jsonl(tmp_path / "a.jsonl", rows(30))
    second = write_jsonl(tmp_path / "b.jsonl", rows(30, start=30))
    reordered = write_jsonl(tmp_path / "all_reversed.jsonl", rows(60)[::-1])
    options = DataOptions(eval_fraction=0.2, seed=7)

    split = prepare_data([first, second], [], tiny_tokenizer, options)
    assert (len(split.train), len(split.eval)) == (48, 12)
    again = prepare_data([second, first], [], tiny_tokenizer, options)
    same_rows_other_file = prepare_data([reordered], [], tiny_tokenizer, options)
    other_seed = prepare_data([first, second], [], tiny_tokenizer, options.model_copy(update={"seed": 8}))

    assert example_keys(again.eval) == example_keys(split.eval)
    assert example_keys(same_rows_other_file.eval) == example_keys(split.eval)
    assert example_keys(other_seed.eval) != example_keys(split.eval)
    assert not example_keys(split.eval) & example_keys(split.train)


def test_eval_fraction_and_eval_files_exclude_each_other(tmp_path, tiny_tokenizer):
    train = write_jsonl(tmp_path / "train.jsonl", rows(4))
    held_out = write_jsonl(tmp_path / "eval.jsonl", rows(2, start=4))
    with pytest.raises(ConfigError, match="not both"):
        prepare_data([train], [held_out], tiny_tokenizer, DataOptions(eval_fraction=0.5))
    with pytest.raises(DataError, match="both as a training and as an eval file"):
        prepare_data([train], [train], tiny_tokenizer, DataOptions())


def test_eval_fraction_must_leave_training_rows(tmp_path, tiny_tokenizer):
    path = write_jsonl(tmp_path / "train.jsonl", rows(1))
    with pytest.raises(DataError, match="leaves none for training"):
        prepare_data([path], [], tiny_tokenizer, DataOptions(eval_fraction=0.5))


def test_provenance_hashes_are_stable_and_follow_the_data(tmp_path, tiny_tokenizer):
    path = write_jsonl(tmp_path / "train.jsonl", rows(5))
    options = DataOptions(eval_fraction=0.2)
    info = prepare_data([path], [], tiny_tokenizer, options).info
    assert info.files[0].sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert prepare_data([path], [], tiny_tokenizer, options).info == info

    write_jsonl(path, [*rows(4), {"prompt": "question 4", "completion": "answer 4!"}])
    changed = prepare_data([path], [], tiny_tokenizer, options).info
    assert changed.files[0].sha256 != info.files[0].sha256
    assert changed.tokenized_sha256 != info.tokenized_sha256

    masked_differently = prepare_data([path], [], tiny_tokenizer, options.model_copy(update={"train_on_prompt": True}))
    assert masked_differently.info.files == changed.files
    assert masked_differently.info.tokenized_sha256 != changed.tokenized_sha256


def test_train_target_tokens_counts_the_shifted_loss_tokens(tmp_path, tiny_tokenizer):
    prepared = prepare_data([write_jsonl(tmp_path / "t.jsonl", rows(3))], [], tiny_tokenizer, DataOptions())
    expected = sum(sum(label != -100 for label in example.labels[1:]) for example in prepared.train)
    assert prepared.info.train_target_tokens == expected > 0


@pytest.mark.integration
def test_real_alpaca_json_list(shared_data, smollm2_tokenizer):
    prepared = prepare_data([shared_data / "alpaca_en_demo.json"], [], smollm2_tokenizer, DataOptions(eval_fraction=0.1))
    assert prepared.info.format == "alpaca"
    assert prepared.info.files[0].rows == 999
    assert (prepared.info.train_examples, prepared.info.eval_examples, prepared.bad_rows) == (899, 100, [])


@pytest.mark.integration
def test_real_sms_spam_tsv_with_renamed_columns(shared_data, tiny_tokenizer):
    options = DataOptions(columns={"prompt": "SMS", "completion": "Label"})
    prepared = prepare_data([shared_data / "sms_spam.tsv"], [], tiny_tokenizer, options)
    assert (prepared.info.format, prepared.info.files[0].rows, prepared.info.train_examples) == ("prompt_completion", 5574, 5574)
    answers = {tiny_tokenizer.decode([t for t, label in zip(e.input_ids, e.labels) if label != -100]) for e in prepared.train}
    assert answers == {"ham<|im_end|>", "spam<|im_end|>"}
