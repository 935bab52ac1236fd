"""Format detection and validation: every bad-row kind is reported as `file:line: reason`."""

import pytest

from adaptlab.data import DataOptions, prepare_data
from adaptlab.data.formats import Conversation, Text, detect_format, to_sample
from adaptlab.errors import DataError

from .support import write_jsonl

GOOD_CHAT = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}


@pytest.mark.parametrize(
    ("row", "fmt"),
    [
        ({"text": "a"}, "text"),
        ({"prompt": "a", "completion": "b"}, "prompt_completion"),
        ({"instruction": "a", "input": "", "output": "b"}, "alpaca"),
        ({"instruction": "a", "output": "b"}, "alpaca"),
        (GOOD_CHAT, "chat"),
    ],
)
def test_detects_each_format_from_its_fields(tmp_path, tiny_tokenizer, row, fmt):
    path = write_jsonl(tmp_path / "rows.jsonl", [row, row])
    assert prepare_data([path], [], tiny_tokenizer, DataOptions()).info.format == fmt


def test_detection_follows_the_majority_so_odd_rows_are_the_bad_ones():
    rows = [{"text": "a"}, {"prompt": "p", "completion": "c"}, {"prompt": "q", "completion": "d"}, {"id": 1}]
    assert detect_format(rows) == "prompt_completion"
    assert detect_format([{"id": 1}]) is None


def test_samples_of_each_format():
    assert to_sample({"text": "a"}, "text", {}) == Text("a")
    assert to_sample({"prompt": "p", "completion": "c", "id": 3}, "prompt_completion", {}) == Conversation(
        (("user", "p"), ("assistant", "c"))
    )
    assert to_sample({"instruction": "Do", "input": "this", "output": "ok"}, "alpaca", {}) == Conversation(
        (("user", "Do\n\nthis"), ("assistant", "ok"))
    )
    assert to_sample({"instruction": "Do", "input": "", "output": "ok"}, "alpaca", {}).messages[0] == ("user", "Do")


BAD_ROWS = [
    ({"prompt": "p"}, "missing field 'completion'; expected prompt, completion, found: prompt"),
    ({"prompt": "p", "completion": 3}, "field 'completion' must be a string, got a number"),
    ({"prompt": None, "completion": "c"}, "field 'prompt' must be a string, got null"),
    ({"prompt": "p", "completion": "  "}, "empty response: field 'completion' is empty"),
    ({"text": "t"}, "fields (text) look like a text row, but this dataset is prompt_completion: expected prompt, completion"),
    ({"other": 1}, "missing field 'prompt'; expected prompt, completion, found: other"),
]


def test_every_bad_row_is_listed_with_file_line_and_reason(tmp_path, tiny_tokenizer):
    good = {"prompt": "p", "completion": "c"}
    rows = [good, good, good] + [row for row, _ in BAD_ROWS]
    path = write_jsonl(tmp_path / "rows.jsonl", rows)
    with pytest.raises(DataError) as raised:
        prepare_data([path], [], tiny_tokenizer, DataOptions())
    message = str(raised.value)
    assert message.startswith(f"{len(BAD_ROWS)} bad rows exceed --max-bad-rows 0")
    for line, (_, reason) in enumerate(BAD_ROWS, start=4):
        assert f"{path}:{line}: {reason}" in message


CHAT_BAD_ROWS = [
    ({"messages": "hi"}, "field 'messages' must be a list of {role, content} objects, got a string"),
    ({"messages": []}, "field 'messages' is an empty list"),
    ({"messages": [{"role": "user", "content": "hi"}]}, "empty response: the conversation has no assistant message"),
    ({"messages": [{"role": "user", "content": "hi"}, {"role": "bot", "content": "yo"}]}, "message 2: unknown role 'bot'"),
    ({"messages": [{"role": "user"}, {"role": "assistant", "content": "yo"}]}, "message 1: missing 'content'"),
    ({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": ""}]}, "message 2: empty response"),
    (
        {"messages": [{"role": "user", "content": ["hi"]}, {"role": "assistant", "content": "a"}]},
        "message 1: content must be a string, got a list",
    ),
    ({"messages": ["hi"]}, "message 1: expected a {role, content} object, got a string"),
    (
        {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "\ud83d!"}]},
        "message 2: content is not valid Unicode: a lone surrogate \\ud83d",
    ),
]


@pytest.mark.parametrize(("row", "reason"), CHAT_BAD_ROWS)
def test_chat_bad_rows(tmp_path, tiny_tokenizer, row, reason):
    path = write_jsonl(tmp_path / "chat.jsonl", [GOOD_CHAT, row])
    with pytest.raises(DataError, match="1 bad rows exceed") as raised:
        prepare_data([path], [], tiny_tokenizer, DataOptions(format="chat"))
    assert f"{path}:2: {reason}" in str(raised.value)


def test_alpaca_input_must_be_text_when_present(tmp_path, tiny_tokenizer):
    rows = [{"instruction": "a", "output": "b", "input": None}, {"instruction": "a", "output": "b", "input": 5}]
    path = write_jsonl(tmp_path / "alpaca.jsonl", rows)
    with pytest.raises(DataError) as raised:
        prepare_data([path], [], tiny_tokenizer, DataOptions())
    assert str(raised.value).splitlines()[1:] == [f"  {path}:2: field 'input' must be a string, got a number"]


def test_a_lone_surrogate_escape_is_a_bad_row_not_a_tokenizer_crash(tmp_path, tiny_tokenizer):
    path = tmp_path / "rows.jsonl"
    path.write_text('{"prompt": "a", "completion": "b"}\n{"prompt": "half \\udc00 a pair", "completion": "b"}\n')
    with pytest.raises(DataError) as raised:
        prepare_data([path], [], tiny_tokenizer, DataOptions())
    assert str(raised.value).splitlines()[1:] == [
        f"  {path}:2: field 'prompt' is not valid Unicode: a lone surrogate \\udc00 (half of a \\uXXXX\\uXXXX pair)"
    ]


def test_columns_rename_source_columns_and_missing_ones_are_named(tmp_path, tiny_tokenizer):
    path = tmp_path / "sms.tsv"
    path.write_text("Label\tSMS\nham\tsee you\nspam\tWIN NOW\n", encoding="utf-8")
    options = DataOptions(columns={"prompt": "SMS", "completion": "Label"})
    prepared = prepare_data([path], [], tiny_tokenizer, options)
    assert (prepared.info.format, prepared.info.train_examples) == ("prompt_completion", 2)

    other = tmp_path / "other.tsv"
    other.write_text("Label\tText\nham\tsee you\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"other\.tsv:2: missing field 'prompt' \(mapped from column 'SMS'\)"):
        prepare_data([other], [], tiny_tokenizer, options.model_copy(update={"format": "prompt_completion"}))


def test_forced_format_applies_to_rows_that_look_different(tmp_path, tiny_tokenizer):
    path = write_jsonl(tmp_path / "rows.jsonl", [{"text": "a", "prompt": "p", "completion": "c"}] * 2)
    assert prepare_data([path], [], tiny_tokenizer, DataOptions()).info.format == "prompt_completion"
    assert prepare_data([path], [], tiny_tokenizer, DataOptions(format="text")).info.format == "text"


def test_undetectable_format_says_which_fields_it_found(tmp_path, tiny_tokenizer):
    path = write_jsonl(tmp_path / "rows.jsonl", [{"question": "q", "answer": "a"}])
    expected = r"rows\.jsonl: cannot tell the record format.*found: answer, question.*--columns prompt=question"
    with pytest.raises(DataError, match=expected):
        prepare_data([path], [], tiny_tokenizer, DataOptions())


def test_unknown_column_field_is_a_config_error():
    with pytest.raises(ValueError, match="unknown field 'question'"):
        DataOptions(columns={"question": "q"})


def test_a_file_of_unreadable_rows_lists_them_as_bad_rows(tmp_path, tiny_tokenizer):
    path = tmp_path / "rows.jsonl"
    path.write_text("{oops\n[1]\n", encoding="utf-8")
    with pytest.raises(DataError) as raised:
        prepare_data([path], [], tiny_tokenizer, DataOptions())
    assert str(raised.value).splitlines()[1:] == [
        f"  {path}:1: invalid JSON: Expecting property name enclosed in double quotes (column 2)",
        f"  {path}:2: expected a JSON object {{...}}, got a list",
    ]
