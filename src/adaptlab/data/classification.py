"""Classification data: `{"text", "label"}` rows (any file type `readers.py` reads; `columns` renames source
columns, e.g. text=SMS, label=Label) -> tokenized `LabelledText` examples with their provenance.

Labels are strings (a number in JSON or Parquet is read as its text); the head's label order is the sorted
training labels unless the config names them. Rows are validated like every format (`file:line: reason`), and a
file without a mapped column is refused naming the column and the columns it has.
"""

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from adaptlab.data.bad_rows import BadRow, too_many_bad_rows
from adaptlab.data.formats import RowRejected, Text, rename_columns, require_unicode
from adaptlab.data.options import DataOptions
from adaptlab.data.prepare import PreparedData, read_sources
from adaptlab.data.readers import SourceFile, json_type_name
from adaptlab.data.split import held_out_indices
from adaptlab.errors import DataError
from adaptlab.schemas.run_record import DataFileInfo, DataInfo

CLASSIFICATION_FIELDS = ("text", "label")


@dataclass(frozen=True)
class LabelledText:
    """One tokenized classification example: the text's tokens and the index of its label in the head."""

    input_ids: list[int]
    label: int

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def target_tokens(self) -> int:
        """One prediction carries the loss: the loop averages the summed loss over examples."""
        return 1


@dataclass(frozen=True)
class _Row:
    text: str
    label: str
    location: BadRow


def prepare_classification_data(
    train_files: Sequence[Path], eval_files: Sequence[Path], tokenizer, options: DataOptions, labels: Sequence[str] = ()
) -> PreparedData:
    """Read and validate every row, then tokenize (truncated to max_seq_len); PreparedData.labels is the head's order."""
    sources = read_sources(train_files, eval_files, options)
    checked = {source.path: _valid_rows(source, options.columns) for source, _ in sources}
    train_rows = [row for source, role in sources if role == "train" for row in checked[source.path][0]]
    bad_rows = [bad for rows, bads in checked.values() for bad in bads]
    names = list(labels) or sorted({row.label for row in train_rows})
    index = {label: position for position, label in enumerate(names)}
    held = held_out_indices([Text(row.text) for row in train_rows], options.eval_fraction, options.seed) if train_rows else set()
    eval_rows = [row for source, role in sources if role == "eval" for row in checked[source.path][0]]
    eval_rows += [row for position, row in enumerate(train_rows) if position in held]
    train_rows = [row for position, row in enumerate(train_rows) if position not in held]
    unknown = [row for row in [*train_rows, *eval_rows] if row.label not in index]
    bad_rows += [BadRow(row.location.file, row.location.line, f"label {row.label!r} is not one of {names}", row.location.unit) for row in unknown]
    if len(bad_rows) > options.max_bad_rows:
        raise too_many_bad_rows(bad_rows, options.max_bad_rows)
    if len(names) < 2:
        raise DataError(f"{train_files[0]}: a classifier needs at least two labels; the training rows have {names}")
    encode = _encoder(tokenizer, options.max_seq_len, index)
    train = [encode(row) for row in train_rows if row.label in index]
    held_out = [encode(row) for row in eval_rows if row.label in index]
    info = DataInfo(
        format="classification",
        files=[_file_info(source, role, checked[source.path]) for source, role in sources],
        train_examples=len(train),
        eval_examples=len(held_out),
        train_target_tokens=len(train),
        tokenized_sha256=_tokenized_sha256(train, held_out, names),
    )
    return PreparedData(train=train, eval=held_out, info=info, bad_rows=bad_rows, labels=names)


def _valid_rows(source: SourceFile, columns: dict[str, str]) -> tuple[list[_Row], list[BadRow]]:
    _require_columns(source, columns)
    rows, bad_rows = [], []
    for row in source.rows:
        location = BadRow(str(source.path), row.line, "", source.unit)
        try:
            if row.record is None:
                raise RowRejected(row.problem)
            record = rename_columns(row.record, columns)
            rows.append(_Row(_text(record, columns), _label(record, columns), location))
        except RowRejected as exc:
            bad_rows.append(BadRow(location.file, location.line, str(exc), location.unit))
    return rows, bad_rows


def _require_columns(source: SourceFile, columns: dict[str, str]) -> None:
    """A file none of whose rows has a field's column is a wrong --columns, not a file of bad rows."""
    first = next((row.record for row in source.rows if row.record is not None), None)
    if first is None:
        return
    for field in CLASSIFICATION_FIELDS:
        column = columns.get(field, field)
        if column not in first:
            found = ", ".join(map(repr, first)) or "none"
            raise DataError(
                f"{source.path}: no column {column!r} for the {field} (map one with --columns {field}=COLUMN); columns: {found}"
            )


def _text(record: dict, columns: dict[str, str]) -> str:
    value = record.get("text")
    if not isinstance(value, str):
        raise RowRejected(f"field 'text'{_mapped('text', columns)} must be a string, got {json_type_name(value)}")
    if not value.strip():
        raise RowRejected(f"empty text: field 'text'{_mapped('text', columns)} is empty")
    return require_unicode(value, "field 'text'")


def _label(record: dict, columns: dict[str, str]) -> str:
    value = record.get("label")
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise RowRejected(f"field 'label'{_mapped('label', columns)} must be a string or an integer, got {json_type_name(value)}")
    label = str(value).strip()
    if not label:
        raise RowRejected(f"empty label: field 'label'{_mapped('label', columns)} is empty")
    return label


def _mapped(field: str, columns: dict[str, str]) -> str:
    return f" (column {columns[field]!r})" if field in columns else ""


def _encoder(tokenizer, max_seq_len: int, index: dict[str, int]):
    def encode(row: _Row) -> LabelledText:
        input_ids = tokenizer(row.text, truncation=True, max_length=max_seq_len)["input_ids"]
        return LabelledText(input_ids=list(input_ids), label=index[row.label])

    return encode


def _file_info(source: SourceFile, role: str, checked: tuple[list[_Row], list[BadRow]]) -> DataFileInfo:
    return DataFileInfo(path=str(source.path), sha256=source.sha256, rows=len(source.rows), bad_rows=len(checked[1]), role=role)


def _tokenized_sha256(train: list[LabelledText], held_out: list[LabelledText], labels: list[str]) -> str:
    """Hash of the labels and tokenized splits: changes when the data, tokenizer, labels or split change."""
    digest = hashlib.sha256(f"labels:{labels}\n".encode())
    for split, examples in (("train", train), ("eval", held_out)):
        for example in examples:
            digest.update(f"{split}:{example.input_ids}:{example.label}\n".encode())
    return digest.hexdigest()
