"""Reading is bounded: files are streamed, a row may not exceed max_line_bytes, and only regular files are read.
Input that Python's parsers refuse in unusual ways (deep nesting, huge integers) is a clean error too."""

import json
import os
import tracemalloc

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from adaptlab.data.readers import PARQUET_BATCH_ROWS, read_source_file
from adaptlab.data.text_source import CHUNK_BYTES
from adaptlab.errors import DataError


def problems(source):
    return [(row.line, row.problem) for row in source.rows if row.problem]


def test_a_jsonl_line_over_the_cap_is_a_bad_row_and_the_lines_after_it_are_read(tmp_path):
    at_cap = json.dumps({"text": "x" * 40})
    over_cap = json.dumps({"text": "é" * 30})  # fewer characters than the cap, more bytes
    path = tmp_path / "rows.jsonl"
    path.write_text(f"{at_cap}\n{over_cap}\r\n{at_cap}\n", encoding="utf-8")
    source = read_source_file(path, max_line_bytes=len(at_cap))
    assert problems(source) == [(2, f"line longer than --max-line-bytes {len(at_cap)}")]
    assert [row.line for row in source.rows if row.record] == [1, 3]


def test_a_huge_line_is_refused_without_reading_it_into_memory(tmp_path):
    path = tmp_path / "rows.jsonl"
    size = 30_000_000
    with path.open("w", encoding="utf-8") as handle:
        handle.write('{"text": "' + "x" * size + '"}\n{"text": "after"}\n')
    tracemalloc.start()
    try:
        source = read_source_file(path)
        _, peak_bytes = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert problems(source) == [(1, "line longer than --max-line-bytes 1048576")]
    assert source.rows[1].record == {"text": "after"}
    assert peak_bytes < 8 * 1024 * 1024


@pytest.mark.parametrize("target", ["/dev/zero", "fifo"])
def test_only_regular_files_are_read(tmp_path, target):
    path = tmp_path / "rows.jsonl"
    if target == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to(target)
    with pytest.raises(DataError, match=r"rows\.jsonl: not a regular file"):
        read_source_file(path)


def test_a_single_line_json_list_larger_than_the_cap_is_read_element_by_element(tmp_path):
    records = [{"text": f"row {index}"} for index in range(10_000)]
    path = tmp_path / "rows.json"
    path.write_text(json.dumps(records), encoding="utf-8")
    assert path.stat().st_size > 2 * CHUNK_BYTES
    source = read_source_file(path, max_line_bytes=100)
    assert [row.record for row in source.rows] == records
    assert {row.line for row in source.rows} == {1}


def test_json_list_lines_stay_exact_across_read_chunks(tmp_path):
    records = [{"text": "é" * (index % 50)} for index in range(3000)]
    path = tmp_path / "rows.json"
    path.write_text(json.dumps(records, indent=1, ensure_ascii=False), encoding="utf-8")
    source = read_source_file(path)
    assert [row.line for row in source.rows] == [2 + 3 * index for index in range(3000)]  # "[", then 3 lines each
    assert [row.record for row in source.rows] == records


def test_broken_json_far_into_a_list_is_located_as_json_itself_locates_it(tmp_path):
    text = json.dumps([{"text": "a" * (index % 90)} for index in range(4000)], indent=1)
    after_comma = text.index("},", len(text) * 2 // 3) + 2
    text = text[:after_comma] + "#" + text[after_comma:]
    path = tmp_path / "rows.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(json.JSONDecodeError) as expected:
        json.loads(text)
    with pytest.raises(DataError) as raised:
        read_source_file(path)
    assert str(raised.value) == (
        f"{path}:{expected.value.lineno}: invalid JSON: {expected.value.msg} (column {expected.value.colno})"
    )


def test_a_json_element_over_the_cap_names_its_line_and_the_flag(tmp_path):
    path = tmp_path / "rows.json"
    path.write_text('[\n {"text": "short"},\n {"text": "' + "x" * 200 + '"}\n]', encoding="utf-8")
    with pytest.raises(DataError, match=r"rows\.json:3: a list element longer than --max-line-bytes 100"):
        read_source_file(path, max_line_bytes=100)


@pytest.mark.parametrize(
    ("content", "line"),
    [("text\nshort\n" + "x" * 101 + "\n", 3), ('text\nshort\n"' + "xxx\n" * 40 + '"\n', 3)],
    ids=["one long line", "a quoted value over many lines"],
)
def test_a_csv_row_over_the_cap_names_its_first_line_and_the_flag(tmp_path, content, line):
    path = tmp_path / "rows.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=rf"rows\.csv:{line}: a row longer than --max-line-bytes 100"):
        read_source_file(path, max_line_bytes=100)


def test_a_csv_value_larger_than_the_csv_module_default_limit_is_read(tmp_path):
    path = tmp_path / "rows.tsv"
    path.write_text("text\n" + "x" * 200_000 + "\n", encoding="utf-8")
    assert read_source_file(path).rows[0].record == {"text": "x" * 200_000}


def test_not_utf8_far_into_a_file_names_the_exact_line_and_offset(tmp_path):
    head = "".join(f'{{"text": "row {index} é"}}\n' for index in range(8000)).encode()
    path = tmp_path / "rows.jsonl"
    path.write_bytes(head + b'{"text": "caf\xe9"}\n')
    assert len(head) > 2 * CHUNK_BYTES
    offset = len(head) + len(b'{"text": "caf')
    with pytest.raises(DataError, match=rf"rows\.jsonl:8001: not valid UTF-8 \(byte 0xe9 at offset {offset}\)"):
        read_source_file(path)


def test_deep_nesting_is_a_bad_jsonl_row_and_a_json_error(tmp_path):
    deep = "[" * 100_000 + "]" * 100_000
    jsonl = tmp_path / "rows.jsonl"
    jsonl.write_text(f'{{"text": "a"}}\n{{"text": {deep}}}\n', encoding="utf-8")
    assert problems(read_source_file(jsonl)) == [(2, "invalid JSON: nested too deeply")]
    as_list = tmp_path / "rows.json"
    as_list.write_text(f'[{{"text": "a"}},\n {deep}]', encoding="utf-8")
    with pytest.raises(DataError, match=r"rows\.json:2: invalid JSON: nested too deeply"):
        read_source_file(as_list)


def test_an_integer_python_refuses_to_convert_is_invalid_json(tmp_path):
    huge = "9" * 5000
    jsonl = tmp_path / "rows.jsonl"
    jsonl.write_text(f'{{"text": {huge}}}\n', encoding="utf-8")
    [(line, problem)] = problems(read_source_file(jsonl))
    assert line == 1 and problem.startswith("invalid JSON: Exceeds the limit")
    as_list = tmp_path / "rows.json"
    as_list.write_text(f"[\n{huge}]", encoding="utf-8")
    with pytest.raises(DataError, match=r"rows\.json:2: invalid JSON: Exceeds the limit"):
        read_source_file(as_list)


def test_parquet_is_read_in_batches_and_an_over_long_row_is_a_bad_row(tmp_path):
    texts = ["short"] * (PARQUET_BATCH_ROWS + 10)
    texts[PARQUET_BATCH_ROWS + 3] = "x" * 500
    path = tmp_path / "rows.parquet"
    pq.write_table(pa.table({"text": texts}), path, row_group_size=100)
    source = read_source_file(path, max_line_bytes=200)
    assert len(source.rows) == len(texts)
    [(row_number, problem)] = problems(source)
    assert row_number == PARQUET_BATCH_ROWS + 4
    assert problem.startswith("row of ") and problem.endswith("longer than --max-line-bytes 200")


def test_a_parquet_value_without_a_python_equivalent_is_a_bad_row(tmp_path):
    path = tmp_path / "rows.parquet"
    pq.write_table(pa.table({"text": ["a", "b"], "when": pa.array([0, 2**62], pa.timestamp("us"))}), path)
    source = read_source_file(path)
    assert source.rows[0].record["text"] == "a"
    assert [(line, problem.split(" (")[0]) for line, problem in problems(source)] == [(2, "a value cannot be read")]


@pytest.mark.parametrize("shift", range(0, 24, 3))
def test_json_values_cut_by_a_read_chunk_read_as_json_reads_them(tmp_path, shift):
    values = [-1.5e-10, 123456789, True, False, None, "\U0001d11e é\n\"", [1, [2.5, {"k": "v"}]], float("inf")]
    records = [{"v": values[index % len(values)], "n": index} for index in range(12_000)]
    text = " " * shift + json.dumps(records)  # \uXXXX escapes, literals and numbers land on chunk ends
    path = tmp_path / "rows.json"
    path.write_text(text, encoding="utf-8")
    assert [row.record for row in read_source_file(path).rows] == json.loads(text)
