"""Prompt files: rows a model is asked to answer (a human review's prompts), in any format and file type the
training data may use (readers.py, formats.py), the answer field optional. Bad rows are reported by `file:line`."""

from dataclasses import dataclass
from pathlib import Path

from adaptlab.data.bad_rows import BadRow, too_many_bad_rows
from adaptlab.data.formats import FORMATS_HELP, Prompt, RowRejected, detect_format, rename_columns, to_prompt
from adaptlab.data.options import DataOptions
from adaptlab.data.readers import read_source_file
from adaptlab.errors import DataError


@dataclass(frozen=True)
class PromptRow:
    location: str  # file:line, for messages
    prompt: Prompt


@dataclass(frozen=True)
class PromptFile:
    path: Path
    sha256: str
    rows: list[PromptRow]


def read_prompts(path: Path, options: DataOptions = DataOptions(), limit: int | None = None) -> PromptFile:
    """The first `limit` usable rows (all without a limit); more bad rows than `options.max_bad_rows` is a DataError
    listing them."""
    source = read_source_file(Path(path), options.max_line_bytes)
    records = [rename_columns(row.record, options.columns) for row in source.rows if row.record is not None]
    fmt = options.format if options.format != "auto" else detect_format(records)
    if fmt is None and records:
        raise DataError(f"{path}: cannot tell the record format; expected fields {FORMATS_HELP} (the answer field may be left out)")
    rows: list[PromptRow] = []
    bad_rows: list[BadRow] = []
    for row in source.rows:
        if limit is not None and len(rows) >= limit:
            break
        try:
            if row.record is None:
                raise RowRejected(row.problem)
            prompt = to_prompt(rename_columns(row.record, options.columns), fmt, options.columns)
        except RowRejected as exc:
            bad_rows.append(BadRow(str(path), row.line, str(exc), source.unit))
            continue
        rows.append(PromptRow(BadRow(str(path), row.line, "", source.unit).location, prompt))
    if len(bad_rows) > options.max_bad_rows:
        raise too_many_bad_rows(bad_rows, options.max_bad_rows)
    if not rows:
        raise DataError(f"{path}: no usable prompt rows")
    return PromptFile(Path(path), source.sha256, rows)
