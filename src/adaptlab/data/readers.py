"""Read data files into rows that remember where they came from.

JSONL (`.jsonl`, `.ndjson`): one object per physical line, blank lines skipped. JSON (`.json`): one list of
objects; a row's line is where its element starts. CSV (`.csv`, RFC 4180 quoting) and TSV (`.tsv`, one row per
line, no quoting: quote characters are text): the header is line 1. Parquet (`.parquet`): rows numbered from 1.

A file that cannot be read as a whole (missing, not UTF-8, broken JSON or CSV quoting) is a DataError naming the
file; a row that cannot be read (one invalid JSONL line, a non-object, a wrong field count) comes back with its
problem so validation can report it beside the others.
"""

import csv
import hashlib
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from adaptlab.errors import DataError

JSONL_SUFFIXES = (".jsonl", ".ndjson")
SUFFIXES = (*JSONL_SUFFIXES, ".json", ".csv", ".tsv", ".parquet")
_JSON_WHITESPACE = re.compile(r"[ \t\n\r]*")


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


def read_source_file(path: Path) -> SourceFile:
    path = Path(path)
    name = str(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise DataError(f"{name}: unsupported file type {path.suffix or '(none)'!r}; use one of {', '.join(SUFFIXES)}")
    if path.is_dir():
        raise DataError(f"{name}: is a folder; pass the data files themselves")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{name}: no such file") from None
    except OSError as exc:
        raise DataError(f"{name}: cannot be read ({exc.strerror})") from exc
    sha256 = hashlib.sha256(data).hexdigest()
    rows = _parse(data, name, suffix)
    if not rows:
        raise DataError(f"{name}: contains no rows")
    return SourceFile(path, sha256, "row" if suffix == ".parquet" else "line", rows)


def _parse(data: bytes, name: str, suffix: str) -> list[SourceRow]:
    if suffix == ".parquet":
        return parse_parquet(data, name)
    text = decode_utf8(data, name)
    if suffix in JSONL_SUFFIXES:
        return parse_jsonl(text)
    if suffix == ".json":
        return parse_json_list(text, name)
    return parse_delimited(text, name, tab_separated=suffix == ".tsv")


def decode_utf8(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DataError(
            f"{name}:{line}: not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start}); save the file as UTF-8"
        ) from None


def parse_jsonl(text: str) -> list[SourceRow]:
    rows = []
    for line_number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            rows.append(SourceRow(line_number, None, f"invalid JSON: {exc.msg} (column {exc.colno})"))
            continue
        rows.append(_object_row(line_number, value))
    return rows


def parse_json_list(text: str, name: str) -> list[SourceRow]:
    """Walk the top-level list element by element so each row knows the line it starts on."""
    decoder = json.JSONDecoder()
    lines = _LineCounter(text)
    pos = _JSON_WHITESPACE.match(text).end()
    if not text.startswith("[", pos):
        raise DataError(
            f"{name}: expected a JSON list of objects ([{{...}}, ...]); for one object per line name the file .jsonl"
        )
    pos = _JSON_WHITESPACE.match(text, pos + 1).end()
    rows: list[SourceRow] = []
    closed = text.startswith("]", pos)
    while not closed:
        try:
            value, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise DataError(f"{name}:{exc.lineno}: invalid JSON: {exc.msg} (column {exc.colno})") from None
        rows.append(_object_row(lines.line_at(pos), value))
        pos = _JSON_WHITESPACE.match(text, end).end()
        if text.startswith(",", pos):
            pos = _JSON_WHITESPACE.match(text, pos + 1).end()
        elif text.startswith("]", pos):
            closed = True
        else:
            raise DataError(f"{name}:{lines.line_at(pos)}: invalid JSON: expected ',' or ']' after a list element")
    if text[pos + 1 :].strip():
        raise DataError(f"{name}:{lines.line_at(pos + 1)}: invalid JSON: text after the closing ']'")
    return rows


def parse_delimited(text: str, name: str, *, tab_separated: bool) -> list[SourceRow]:
    """CSV with RFC 4180 quoting, or TSV without quoting; rows become {header: value} objects."""
    options = {"delimiter": "\t", "quoting": csv.QUOTE_NONE} if tab_separated else {"strict": True}
    reader = csv.reader(io.StringIO(text, newline=""), **options)
    rows: list[SourceRow] = []
    header: list[str] | None = None
    start_line = 1
    try:
        for values in reader:
            line, start_line = start_line, reader.line_num + 1
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
    if header is None:
        raise DataError(f"{name}: empty file; expected a header line with column names")
    return rows


def parse_parquet(data: bytes, name: str) -> list[SourceRow]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(io.BytesIO(data))
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"{name}: not a readable Parquet file ({exc})") from None
    return [SourceRow(row_number, record) for row_number, record in enumerate(table.to_pylist(), start=1)]


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


class _LineCounter:
    """Line numbers of increasing offsets in one pass over the text."""

    def __init__(self, text: str):
        self._text = text
        self._offset = 0
        self._line = 1

    def line_at(self, offset: int) -> int:
        self._line += self._text.count("\n", self._offset, offset)
        self._offset = offset
        return self._line
