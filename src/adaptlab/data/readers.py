"""Read data files into rows that remember where they came from.

JSONL (`.jsonl`, `.ndjson`): one object per physical line, blank lines skipped. JSON (`.json`): one list of
objects; a row's line is where its element starts. CSV (`.csv`, RFC 4180 quoting) and TSV (`.tsv`, one row per
line, no quoting: quote characters are text): the header is line 1. Parquet (`.parquet`): rows numbered from 1.

Files are streamed (Parquet batch by batch) and no row may be longer than max_line_bytes, so reading holds one
row's text at a time, never the whole file. A file that cannot be read as a whole (missing, not a regular file, not
UTF-8, broken JSON or CSV quoting, a JSON element or CSV/TSV row over the cap) is a DataError naming the file; a row
that cannot be read (an invalid or over-long JSONL line, a non-object, a wrong field count, an over-long Parquet
row) comes back with its problem so validation can report it beside the others.
"""

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal, TextIO

from adaptlab.data.json_list import json_list_elements
from adaptlab.data.options import MAX_LINE_BYTES
from adaptlab.data.text_source import (
    HashingReader,
    capped_lines,
    require_regular_file,
    text_stream,
    utf8_error,
    utf8_length,
)
from adaptlab.errors import DataError

JSONL_SUFFIXES = (".jsonl", ".ndjson")
SUFFIXES = (*JSONL_SUFFIXES, ".json", ".csv", ".tsv", ".parquet")
PARQUET_BATCH_ROWS = 256


@dataclass(frozen=True)
class SourceRow:
    line: int  # physical line where the row starts, or the row number for Parquet
    record: dict | None  # None when the row itself could not be read
    problem: str | None = None  # why it could not be read


@dataclass(frozen=True)
class SourceFile:
    path: Path
    sha256: str  # of the file's bytes, exactly as parsed
    unit: Literal["line", "row"]
    rows: list[SourceRow]


def read_source_file(path: Path, max_line_bytes: int = MAX_LINE_BYTES) -> SourceFile:
    path = Path(path)
    name = str(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise DataError(f"{name}: unsupported file type {path.suffix or '(none)'!r}; use one of {', '.join(SUFFIXES)}")
    require_regular_file(path, name)
    try:
        with path.open("rb", buffering=0) as raw:
            sha256, rows = _read(raw, path, suffix, max_line_bytes)
    except OSError as exc:
        raise DataError(f"{name}: cannot be read ({exc.strerror or exc})") from None
    if not rows:
        raise DataError(f"{name}: contains no rows")
    return SourceFile(path, sha256, "row" if suffix == ".parquet" else "line", rows)


def _read(raw: BinaryIO, path: Path, suffix: str, max_line_bytes: int) -> tuple[str, list[SourceRow]]:
    """(sha256 of the file's bytes, rows)."""
    name = str(path)
    hashing = HashingReader(raw)
    if suffix == ".parquet":  # random access: hash first, then read the same open file
        sha256 = hashing.hexdigest()
        raw.seek(0)
        return sha256, parse_parquet(raw, name, max_line_bytes)
    text = text_stream(hashing, newline="" if suffix in (".csv", ".tsv") else "\n")
    try:
        if suffix in JSONL_SUFFIXES:
            rows = parse_jsonl(text, max_line_bytes)
        elif suffix == ".json":
            rows = [_object_row(line, value) for line, value in json_list_elements(text, name, max_line_bytes)]
        else:
            rows = parse_delimited(text, name, max_line_bytes, tab_separated=suffix == ".tsv")
    except UnicodeDecodeError:
        raise utf8_error(path, name) from None
    return hashing.hexdigest(), rows


def parse_jsonl(text: TextIO, max_line_bytes: int) -> list[SourceRow]:
    rows = []
    for line_number, line in enumerate(capped_lines(text, max_line_bytes), start=1):
        if line is None:
            rows.append(SourceRow(line_number, None, f"line longer than --max-line-bytes {max_line_bytes}"))
        elif line.strip():
            rows.append(_jsonl_row(line_number, line))
    return rows


def _jsonl_row(line_number: int, line: str) -> SourceRow:
    try:
        value = json.loads(line)
    except json.JSONDecodeError as exc:
        return SourceRow(line_number, None, f"invalid JSON: {exc.msg} (column {exc.colno})")
    except RecursionError:
        return SourceRow(line_number, None, "invalid JSON: nested too deeply")
    except ValueError as exc:  # valid syntax Python refuses, e.g. an integer of more than 4300 digits
        return SourceRow(line_number, None, f"invalid JSON: {exc}")
    return _object_row(line_number, value)


def parse_delimited(text: TextIO, name: str, max_line_bytes: int, *, tab_separated: bool) -> list[SourceRow]:
    """CSV with RFC 4180 quoting, or TSV without quoting; rows become {header: value} objects."""
    options = {"delimiter": "\t", "quoting": csv.QUOTE_NONE} if tab_separated else {"strict": True}
    # the row cap bounds a field; csv's own (process-wide) field limit must not be the lower one
    csv.field_size_limit(max(csv.field_size_limit(), max_line_bytes))
    feed = _RowFeed(text, max_line_bytes)
    reader = csv.reader(feed, **options)
    rows: list[SourceRow] = []
    header: list[str] | None = None
    start_line = 1
    try:
        for values in reader:
            line, start_line = start_line, reader.line_num + 1
            feed.row_bytes = 0
            if not values:
                continue
            if header is None:
                header = _header(values, name)
            elif len(values) != len(header):
                hint = " (a tab inside a value?)" if tab_separated else " (an unquoted comma inside a value?)"
                rows.append(SourceRow(line, None, f"has {len(values)} fields but the header has {len(header)}{hint}"))
            else:
                rows.append(SourceRow(line, dict(zip(header, values))))
    except csv.Error as exc:
        kind = "TSV" if tab_separated else "CSV"
        raise DataError(f"{name}:{start_line}: broken {kind} in the row starting here: {exc}") from None
    except _RowTooLong:
        raise DataError(
            f"{name}:{start_line}: a row longer than --max-line-bytes {max_line_bytes}; "
            "shorten the row or raise --max-line-bytes"
        ) from None
    if header is None:
        raise DataError(f"{name}: empty file; expected a header line with column names")
    return rows


class _RowTooLong(Exception):
    """Raised by _RowFeed from inside csv.reader; parse_delimited names the row's first line."""


class _RowFeed:
    """Lines for csv.reader; a row (which quoting may spread over lines) longer than the cap stops the read.
    The reader of rows sets row_bytes to 0 where a row ends."""

    def __init__(self, text: TextIO, max_line_bytes: int):
        self._text = text
        self._max_line_bytes = max_line_bytes
        self.row_bytes = 0

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        line = self._text.readline(self._max_line_bytes + 1)
        if not line:
            raise StopIteration
        self.row_bytes += utf8_length(line.rstrip("\r\n"))
        if self.row_bytes > self._max_line_bytes:
            raise _RowTooLong
        return line


def parse_parquet(handle: BinaryIO, name: str, max_line_bytes: int) -> list[SourceRow]:
    """Batch by batch; a row over the cap (or one pyarrow cannot turn into Python values) is a row problem."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows: list[SourceRow] = []
    try:
        for batch in pq.ParquetFile(handle).iter_batches(batch_size=PARQUET_BATCH_ROWS):
            rows += _parquet_rows(batch, len(rows) + 1, max_line_bytes)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise DataError(f"{name}: not a readable Parquet file ({exc})") from None
    return rows


def _parquet_rows(batch, first_row: int, max_line_bytes: int) -> list[SourceRow]:
    if batch.nbytes <= max_line_bytes:
        try:
            return [SourceRow(number, record) for number, record in enumerate(batch.to_pylist(), start=first_row)]
        except (ValueError, OverflowError):
            pass  # some value has no Python equivalent: find out which rows, one by one
    return [_parquet_row(batch.slice(index, 1), first_row + index, max_line_bytes) for index in range(batch.num_rows)]


def _parquet_row(row, number: int, max_line_bytes: int) -> SourceRow:
    if row.nbytes > max_line_bytes:
        return SourceRow(number, None, f"row of {row.nbytes} bytes, longer than --max-line-bytes {max_line_bytes}")
    try:
        return SourceRow(number, row.to_pylist()[0])
    except (ValueError, OverflowError) as exc:
        return SourceRow(number, None, f"a value cannot be read ({exc})")


def _header(values: list[str], name: str) -> list[str]:
    header = [value.strip() for value in values]
    duplicates = sorted({column for column in header if header.count(column) > 1})
    if duplicates:
        raise DataError(f"{name}:1: column {duplicates[0]!r} appears more than once in the header")
    return header


def _object_row(line: int, value: object) -> SourceRow:
    if isinstance(value, dict):
        return SourceRow(line, value)
    return SourceRow(line, None, f"expected a JSON object {{...}}, got {json_type_name(value)}")


def json_type_name(value: object) -> str:
    """The JSON name of a value's type, for messages a user reads against their file."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
