"""Prompt files (a human review's prompts): every format, answers optional, bad rows named by file:line, and
the prompt encoded exactly as training encodes what precedes a reply."""

import pytest

from adaptlab.data import DataOptions
from adaptlab.data.encode import SampleEncoder
from adaptlab.data.formats import Conversation, Text
from adaptlab.data.prompt_files import read_prompts
from adaptlab.errors import DataError

from .support import prepare_rows, write_jsonl


def test_each_format_gives_what_the_model_is_asked_and_the_rows_own_answer(tmp_path):
    cases = [
        ({"prompt": "Say hi"}, Conversation((("user", "Say hi"),)), None),
        ({"prompt": "Say hi", "completion": "hi"}, Conversation((("user", "Say hi"),)), "hi"),
        ({"instruction": "Translate", "input": "Hallo"}, Conversation((("user", "Translate\n\nHallo"),)), None),
        ({"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]},
         Conversation((("system", "Be brief."), ("user", "Hi"))), None),
        ({"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}, Conversation((("user", "Hi"),)), "Hello"),
        ({"text": "Once upon a time"}, Text("Once upon a time"), None),
    ]
    for number, (row, sample, reference) in enumerate(cases):
        prompt = read_prompts(write_jsonl(tmp_path / f"p{number}.jsonl", [row])).rows[0].prompt
        assert (prompt.sample, prompt.reference) == (sample, reference), row


def test_csv_prompts_a_limit_and_bad_rows_named_by_line(tmp_path):
    csv = tmp_path / "prompts.csv"
    csv.write_text("prompt\nfirst\nsecond\nthird\n")
    read = read_prompts(csv, limit=2)
    assert [row.prompt.sample.messages[0][1] for row in read.rows] == ["first", "second"] and read.rows[1].location == f"{csv}:3"
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"prompt": "ok"}, {"prompt": "  "}, {"prompt": 3}, {"completion": "no prompt"}])
    with pytest.raises(DataError) as refused:
        read_prompts(bad)
    message = str(refused.value)
    assert f"{bad}:2: empty prompt" in message and f"{bad}:3: field 'prompt' must be a string" in message
    assert f"{bad}:4: missing field 'prompt'" in message
    assert len(read_prompts(bad, DataOptions(max_bad_rows=3)).rows) == 1
    turns = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "assistant", "content": "c"}]
    with pytest.raises(DataError, match=":1: a prompt conversation must end with a user message"):
        read_prompts(write_jsonl(tmp_path / "chat.jsonl", [{"messages": turns}]))


def test_a_prompt_is_encoded_as_training_encodes_the_turns_before_a_reply(tmp_path, tiny_tokenizer):
    row = {"prompt": "Rewrite: the cat", "completion": "The cat."}
    example = prepare_rows(tmp_path, [row], tiny_tokenizer, pii="off", dedup="off").train[0]
    first_target = next(index for index, label in enumerate(example.labels) if label != -100)
    prompt = read_prompts(write_jsonl(tmp_path / "prompts.jsonl", [row])).rows[0].prompt
    encoder = SampleEncoder.for_tokenizer(tiny_tokenizer, DataOptions())
    assert encoder.encode_prompt(prompt.sample) == example.input_ids[:first_target]
