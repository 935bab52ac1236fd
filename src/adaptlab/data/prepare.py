"""`prepare_data`: data files -> validated, tokenized train and eval examples with their provenance.

Everything is read and validated before anything is returned, so a run refuses to start on bad data instead of
failing halfway; nothing is written.
"""

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from rich.progress import Progress

from adaptlab.data.bad_rows import BadRow, too_many_bad_rows
from adaptlab.data.encode import SampleEncoder
from adaptlab.data.example import Example
from adaptlab.data.formats import FORMATS_HELP, RowRejected, Sample, detect_format, rename_columns, to_sample
from adaptlab.data.options import DataOptions
from adaptlab.data.quality import QualityPass, token_length_histogram
from adaptlab.data.readers import SourceFile, read_source_file
from adaptlab.data.split import held_out_indices
from adaptlab.errors import ConfigError, DataError
from adaptlab.schemas.run_record import DataFileInfo, DataInfo


@dataclass
class PreparedData:
    train: list[Example]
    eval: list[Example]
    info: DataInfo
    bad_rows: list[BadRow]  # the rows that were skipped (at most options.max_bad_rows)
    eval_samples: list[Sample] = field(default_factory=list)  # the rows behind `eval`, in the same order
    labels: list[str] = field(default_factory=list)  # classification: the head's labels, in order


@dataclass(frozen=True)
class _Usable:
    sample: Sample
    example: Example


@dataclass(frozen=True)
class _CheckedFile:
    source: SourceFile
    role: Literal["train", "eval"]
    usable: list[_Usable]
    bad_rows: list[BadRow]

    def info(self) -> DataFileInfo:
        return DataFileInfo(
            path=str(self.source.path),
            sha256=self.source.sha256,
            rows=len(self.source.rows),
            bad_rows=len(self.bad_rows),
            role=self.role,
        )


def prepare_data(
    train_files: Sequence[Path],
    eval_files: Sequence[Path],
    tokenizer,
    options: DataOptions,
    *,
    show_progress: bool = False,
) -> PreparedData:
    """Read, validate and tokenize; raises DataError listing every bad row when there are more than max_bad_rows."""
    sources = read_sources(train_files, eval_files, options)
    fmt = options.format if options.format != "auto" else _detected_format([source for source, _ in sources], options)

    encoder = SampleEncoder.for_tokenizer(tokenizer, options)
    quality = QualityPass(options, check_contamination=bool(eval_files))
    with Progress(transient=True, disable=not show_progress) as progress:
        task = progress.add_task("Validating and tokenizing rows", total=sum(len(source.rows) for source, _ in sources))
        checked = [
            _check_rows(source, role, fmt, encoder, quality, lambda: progress.advance(task))
            for source, role in sources
        ]
    bad_rows = [bad_row for file_check in checked for bad_row in file_check.bad_rows]
    if len(bad_rows) > options.max_bad_rows:
        raise too_many_bad_rows(bad_rows, options.max_bad_rows)
    usable_train = [item for file_check in checked if file_check.role == "train" for item in file_check.usable]
    if not usable_train:
        raise DataError(f"no usable training rows in {', '.join(map(str, train_files))}")

    train, held_out = _split(usable_train, options)
    eval_usable = [item for file_check in checked if file_check.role == "eval" for item in file_check.usable] + held_out
    eval_examples = [item.example for item in eval_usable]
    info = DataInfo(
        format=fmt,
        files=[file_check.info() for file_check in checked],
        train_examples=len(train),
        eval_examples=len(eval_examples),
        train_target_tokens=sum(example.target_tokens for example in train),
        tokenized_sha256=tokenized_sha256(train, eval_examples),
        quality=quality.summary(len(usable_train), token_length_histogram([len(example) for example in train])),
    )
    return PreparedData(train=train, eval=eval_examples, info=info, bad_rows=bad_rows, eval_samples=[item.sample for item in eval_usable])


def read_sources(train_files: Sequence[Path], eval_files: Sequence[Path], options: DataOptions) -> list[tuple[SourceFile, str]]:
    """Every data file read, with its role ("train" or "eval"), after the checks every objective's data shares."""
    if eval_files and options.eval_fraction > 0:
        raise ConfigError("give eval files or eval_fraction, not both: eval files are the held-out set")
    if not train_files:
        raise DataError("no training data files given")
    _refuse_overlap(train_files, eval_files)
    sources = [(read_source_file(path, options.max_line_bytes), "train") for path in train_files]
    return sources + [(read_source_file(path, options.max_line_bytes), "eval") for path in eval_files]


def tokenized_sha256(train: Iterable[Example], eval_examples: Iterable[Example]) -> str:
    """Hash of the tokenized splits: changes when the data, tokenizer, template, masking or split change."""
    digest = hashlib.sha256()
    for split, examples in (("train", train), ("eval", eval_examples)):
        for example in examples:
            digest.update(f"{split}:{example.input_ids}:{example.labels}\n".encode())
    return digest.hexdigest()


def _check_rows(
    source: SourceFile,
    role: Literal["train", "eval"],
    fmt: str | None,
    encoder: SampleEncoder,
    quality: QualityPass,
    advance: Callable[[], None],
) -> _CheckedFile:
    """Validate, screen for PII, tokenize, then drop duplicates: a bad row is never counted as a duplicate."""
    usable: list[_Usable] = []
    bad_rows: list[BadRow] = []
    columns = quality.options.columns
    for row in source.rows:
        advance()
        try:
            if row.record is None:
                raise RowRejected(row.problem)
            screened = quality.screen(rename_columns(row.record, columns), fmt)
            if screened.rejections:
                bad_rows += [BadRow(str(source.path), row.line, reason, source.unit) for reason in screened.rejections]
                continue
            sample = to_sample(screened.record, fmt, columns)
            example = encoder.encode(sample)
        except RowRejected as exc:
            bad_rows.append(BadRow(str(source.path), row.line, str(exc), source.unit))
            continue
        if quality.keeps(screened.text, role, BadRow(str(source.path), row.line, "", source.unit)):
            usable.append(_Usable(sample, example))
    return _CheckedFile(source, role, usable, bad_rows)


def _split(train: list[_Usable], options: DataOptions) -> tuple[list[Example], list[_Usable]]:
    held = held_out_indices([item.sample for item in train], options.eval_fraction, options.seed)
    kept = [item.example for index, item in enumerate(train) if index not in held]
    held_out = [item for index, item in enumerate(train) if index in held]
    return kept, held_out


def _detected_format(sources: list[SourceFile], options: DataOptions) -> str | None:
    """The majority format; None when no row could be read at all (each is then reported as a bad row)."""
    rows = [row for source in sources for row in source.rows if row.record is not None]
    records = [rename_columns(row.record, options.columns) for row in rows]
    fmt = detect_format(records)
    if fmt is not None or not records:
        return fmt
    found = ", ".join(sorted(records[0])) or "none"
    raise DataError(
        f"{sources[0].path}: cannot tell the record format; expected fields {FORMATS_HELP}, found: {found}. "
        "Map your columns with `columns` (--columns FIELD=COLUMN), "
        "e.g. --columns prompt=question --columns completion=answer"
    )


def _refuse_overlap(train_files: Sequence[Path], eval_files: Sequence[Path]) -> None:
    both = {Path(path).resolve() for path in train_files} & {Path(path).resolve() for path in eval_files}
    if both:
        raise DataError(f"{sorted(both)[0]}: given both as a training and as an eval file; the eval set must be held out")
