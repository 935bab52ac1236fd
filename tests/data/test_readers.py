"""Every file type reads into rows with their real line (or row) numbers; unreadable files name themselves."""

import hashlib
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from adaptlab.data.readers import read_source_file
from adaptlab.errors import DataError


def lines_and_records(source):
    return [(row.line, row.record) for row in source.rows]


def test_jsonl_uses_physical_lines_and_skips_blank_ones(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text('{"text": "a"}\n\n{"text": "b"}\r\n   \n{"text": "c"}', encoding="utf-8")
    source = read_source_file(path)
    assert lines_and_records(source) == [(1, {"text": "a"}), (3, {"text": "b"}), (5, {"text": "c"})]
    assert source.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("suffix", [".json", ".csv", ".parquet"])
def test_the_hash_is_of_the_whole_file_as_read(tmp_path, suffix):
    path = tmp_path / f"rows{suffix}"
    if suffix == ".parquet":
        pq.write_table(pa.table({"text": ["a", "b"]}), path)
    else:
        path.write_text('[{"text": "a"}]\n\n  \n' if suffix == ".json" else "text\na\n\n", encoding="utf-8")
    assert read_source_file(path).sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_jsonl_unreadable_lines_are_row_problems_not_file_errors(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text('{"text": "a"}\n{"text": \n[1, 2]\n"just a string"\n', encoding="utf-8")
    rows = read_source_file(path).rows
    assert [(row.line, row.record is None) for row in rows] == [(1, False), (2, True), (3, True), (4, True)]
    assert rows[1].problem.startswith("invalid JSON")
    assert rows[2].problem == "expected a JSON object {...}, got a list"
    assert rows[3].problem == "expected a JSON object {...}, got a string"


def test_json_list_rows_start_where_their_element_starts(tmp_path):
    path = tmp_path / "rows.json"
    path.write_text(
        '[\n  {"instruction": "a",\n   "output": "b"},\n\n  {"instruction": "c", "output": "d"}, 7\n]\n', encoding="utf-8"
    )
    rows = read_source_file(path).rows
    assert [row.line for row in rows] == [2, 5, 5]
    assert rows[1].record == {"instruction": "c", "output": "d"}
    assert rows[2].problem == "expected a JSON object {...}, got a number"


def test_json_must_be_a_list(tmp_path):
    path = tmp_path / "rows.json"
    path.write_text('{"text": "a"}\n{"text": "b"}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"rows\.json: expected a JSON list of objects.*\.jsonl"):
        read_source_file(path)


def test_broken_json_names_file_and_line(tmp_path):
    path = tmp_path / "rows.json"
    path.write_text('[\n {"text": "a"},\n {"text": "b",}\n]\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"rows\.json:3: invalid JSON"):
        read_source_file(path)


def test_csv_header_is_line_one_and_quoted_newlines_keep_line_numbers(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text('prompt,completion\n"two\nlines",yes\n\n"a, b",no\nonly-one-field\n', encoding="utf-8")
    source = read_source_file(path)
    rows = source.rows
    assert lines_and_records(source)[:2] == [
        (2, {"prompt": "two\nlines", "completion": "yes"}),
        (5, {"prompt": "a, b", "completion": "no"}),
    ]
    assert rows[2].line == 6 and rows[2].problem.startswith("has 1 fields but the header has 2")


def test_tsv_has_no_quoting(tmp_path):
    path = tmp_path / "rows.tsv"
    path.write_text('Label\tSMS\nham\t"Hi" she said\nspam\t"win\n', encoding="utf-8")
    assert lines_and_records(read_source_file(path)) == [
        (2, {"Label": "ham", "SMS": '"Hi" she said'}),
        (3, {"Label": "spam", "SMS": '"win'}),
    ]


@pytest.mark.parametrize(
    ("content", "line", "message"),
    [
        ('a,b\n1,"x"y\n', 2, "broken CSV"),
        ('a,b\n1,2\n3,"never closed\n4,5\n', 3, "broken CSV"),
    ],
)
def test_broken_csv_names_the_row_where_it_breaks(tmp_path, content, line, message):
    path = tmp_path / "rows.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=rf"rows\.csv:{line}: {message}"):
        read_source_file(path)


def test_csv_duplicate_header_is_an_error(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text("text,text\na,b\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"rows\.csv:1: column 'text' appears more than once"):
        read_source_file(path)


def test_parquet_rows_are_numbered_from_one(tmp_path):
    path = tmp_path / "rows.parquet"
    messages = [[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]]
    pq.write_table(pa.table({"messages": messages * 2}), path)
    source = read_source_file(path)
    assert source.unit == "row"
    assert lines_and_records(source) == [(1, {"messages": messages[0]}), (2, {"messages": messages[0]})]


def test_not_parquet_is_a_data_error(tmp_path):
    path = tmp_path / "rows.parquet"
    path.write_text("not parquet", encoding="utf-8")
    with pytest.raises(DataError, match=r"rows\.parquet: not a readable Parquet file"):
        read_source_file(path)


def test_not_utf8_names_file_and_line(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_bytes(b'{"text": "fine"}\n{"text": "caf\xe9"}\n')
    with pytest.raises(DataError, match=r"rows\.jsonl:2: not valid UTF-8 .*save the file as UTF-8"):
        read_source_file(path)


def test_utf8_byte_order_mark_is_accepted(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_bytes("\ufefftext\nhello\n".encode())
    assert lines_and_records(read_source_file(path)) == [(2, {"text": "hello"})]


@pytest.mark.parametrize(
    ("name", "message"),
    [("missing.jsonl", "no such file"), ("rows.xlsx", "unsupported file type '.xlsx'"), ("folder.json", "is a folder")],
)
def test_unreadable_files_are_named(tmp_path, name, message):
    path = tmp_path / name
    if name == "rows.xlsx":
        path.write_text(json.dumps({"text": "a"}))
    if name == "folder.json":
        path.mkdir()
    with pytest.raises(DataError, match=rf"{name}: {message}"):
        read_source_file(path)


@pytest.mark.parametrize(
    ("name", "content"), [("empty.jsonl", "\n\n"), ("header_only.csv", "prompt,completion\n"), ("empty.json", "[]")]
)
def test_a_file_without_rows_is_an_error(tmp_path, name, content):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=rf"{name}: contains no rows"):
        read_source_file(path)
