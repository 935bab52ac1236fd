"""Fuzzing: whatever bytes a data file holds, reading and preparing it ends in rows or an adaptlab error, never in
another exception. Bytes are arbitrary, or a valid file of the type with some bytes replaced (which gets past the
first checks: a Parquet footer, a JSON list's opening bracket)."""

import io
import json
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adaptlab.data import DataOptions, prepare_data
from adaptlab.data.readers import read_source_file
from adaptlab.errors import AdaptlabError

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture], derandomize=True)
ROWS = [
    {"prompt": "two\nlines, a \"quote\"", "completion": "yes"},
    {"prompt": "tab\there", "completion": "é"},
    {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]},
]


def valid_file(suffix: str) -> bytes:
    flat = [{"prompt": row.get("prompt", ""), "completion": row.get("completion", "")} for row in ROWS]
    if suffix == ".jsonl":
        return "".join(json.dumps(row) + "\n" for row in ROWS).encode()
    if suffix == ".json":
        return json.dumps(ROWS, indent=1).encode()
    if suffix == ".csv":
        return b'prompt,completion\n"two\nlines, a ""quote""",yes\nx,\xc3\xa9\n'
    if suffix == ".tsv":
        return b"prompt\tcompletion\ntab here\tyes\nx\t\xc3\xa9\n"
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(flat), buffer)
    return buffer.getvalue()


@st.composite
def mutated(draw, valid: bytes) -> bytes:
    data = bytearray(valid)
    for _ in range(draw(st.integers(1, 8))):
        at = draw(st.integers(0, len(data) - 1))
        data[at : at + draw(st.integers(0, 4))] = draw(st.binary(max_size=4))
        if not data:
            break
    return bytes(data)


def file_contents(suffix: str):
    return st.one_of(st.binary(max_size=300), mutated(valid_file(suffix)))


def read_or_adaptlab_error(suffix: str, content: bytes, max_line_bytes: int):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"rows{suffix}"
        path.write_bytes(content)
        try:
            return read_source_file(path, max_line_bytes)
        except AdaptlabError:
            return None


@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".csv", ".tsv", ".parquet"])
def test_any_bytes_read_into_rows_or_an_adaptlab_error(suffix):
    @FUZZ
    @given(content=file_contents(suffix), max_line_bytes=st.sampled_from([1, 16, 1 << 20]))
    def check(content, max_line_bytes):
        source = read_or_adaptlab_error(suffix, content, max_line_bytes)
        if source is not None:
            assert all((row.record is None) == (row.problem is not None) for row in source.rows)
            assert all(row.record is None or isinstance(row.record, dict) for row in source.rows)

    check()


@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".csv", ".parquet"])
def test_any_bytes_prepare_into_examples_or_an_adaptlab_error(suffix, tiny_tokenizer):
    @FUZZ
    @given(content=mutated(valid_file(suffix)))
    def check(content):
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / f"rows{suffix}"
            path.write_bytes(content)
            try:
                prepare_data([path], [], tiny_tokenizer, DataOptions(max_bad_rows=10, max_seq_len=64))
            except AdaptlabError:
                pass

    check()


any_character = st.characters(codec=None, exclude_categories=()) | st.characters(categories=["Cs"])  # lone surrogates
json_text = st.text(any_character, max_size=8)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | json_text,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(json_text, children, max_size=3),
    max_leaves=8,
)
field_value = json_text | json_values
chat_message = st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant", "bot"]), "content": field_value})
records = st.one_of(
    st.fixed_dictionaries({"text": field_value}),
    st.fixed_dictionaries({"prompt": field_value, "completion": field_value}),
    st.fixed_dictionaries({"instruction": field_value, "output": field_value}, optional={"input": field_value}),
    st.fixed_dictionaries({"messages": st.lists(chat_message, max_size=3) | field_value}),
    st.dictionaries(json_text, field_value, max_size=3),
)


@FUZZ
@given(rows=st.lists(records, min_size=1, max_size=5))
def test_any_json_records_prepare_into_examples_or_an_adaptlab_error(rows, tiny_tokenizer):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "rows.jsonl"
        path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
        try:
            prepare_data([path], [], tiny_tokenizer, DataOptions(max_bad_rows=10, max_seq_len=64))
        except AdaptlabError:
            pass
