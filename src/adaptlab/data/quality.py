"""The data checks of one pass over the rows: PII (report, redact or reject), duplicates within the training rows,
held-out rows that duplicate training rows (contamination). Rows come in file order, training files first."""

from array import array
from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

from adaptlab.data.bad_rows import BadRow
from adaptlab.data.dedup import DuplicateIndex, Match
from adaptlab.data.options import FORMAT_FIELDS, DataOptions
from adaptlab.data.pii import PiiScanner, redact
from adaptlab.schemas.data_quality import (
    LISTED_LOCATIONS,
    ContaminationSummary,
    DataQuality,
    DuplicateSummary,
    PiiSummary,
)

Role = Literal["train", "eval"]


@dataclass(frozen=True)
class Screened:
    record: dict  # redacted when pii == "redact"
    rejections: list[str]  # `PII: EMAIL at column input`, one per finding, when pii == "reject"
    text: str  # the fields' text, what duplicates are judged on


class RowLocations:
    """`file:line` of each indexed training row in 4 bytes per row (its line) plus one entry per file."""

    def __init__(self):
        self._lines = array("I")
        self._file_starts: list[int] = []  # the first row of each file, ascending
        self._files: list[tuple[str, str]] = []  # (file, unit) from that row on

    def add(self, row: BadRow) -> None:
        if not self._files or self._files[-1] != (row.file, row.unit):
            self._file_starts.append(len(self._lines))
            self._files.append((row.file, row.unit))
        self._lines.append(row.line)

    def location(self, row: int) -> str:
        file, unit = self._files[bisect_right(self._file_starts, row) - 1]
        return BadRow(file, self._lines[row], "", unit).location


@dataclass
class QualityPass:
    options: DataOptions
    check_contamination: bool  # eval files were given
    scanner: PiiScanner = field(default_factory=PiiScanner)
    _pii_types: Counter = field(default_factory=Counter)
    _pii_fields: Counter = field(default_factory=Counter)
    _pii_rows: int = 0
    _pii_unredacted: int = 0
    _index: DuplicateIndex | None = None
    _locations: RowLocations = field(default_factory=RowLocations)
    _duplicates: DuplicateSummary | None = None
    _contamination: ContaminationSummary = field(default_factory=ContaminationSummary)

    def __post_init__(self) -> None:
        if self.options.dedup != "off" or self.check_contamination:
            self._index = DuplicateIndex(self.options.dedup_threshold, self.options.dedup_memory_mb * 2**20)
        self._duplicates = DuplicateSummary(mode=self.options.dedup, threshold=self.options.dedup_threshold)

    @property
    def index_reserved_bytes(self) -> int:
        """Memory the duplicate index holds or has reserved (at most dedup_memory_mb)."""
        return self._index.reserved_bytes if self._index else 0

    def screen(self, record: dict, fmt: str) -> Screened:
        """Find PII in the fields the format reads; redact it or turn each finding into a rejection."""
        texts = dict(field_texts(record, fmt))
        joined = "\n".join(texts.values())
        if self.options.pii == "off" or not self.scanner.may_find(joined):
            return Screened(record, [], joined)
        rejections = []
        for name, text in texts.items():
            findings = self.scanner.scan(text)
            column = self.options.columns.get(name, name)
            self._pii_types.update(finding.pii_type for finding in findings)
            self._pii_fields[column] += len(findings)
            rejections += [f"PII: {finding.pii_type} at column {column}" for finding in findings]
            if findings and self.options.pii == "redact":
                texts[name] = redact(text, findings)
        self._pii_rows += bool(rejections)
        if self.options.pii == "report":
            self._pii_unredacted += len(rejections)
        if self.options.pii == "redact" and rejections:
            record = with_field_texts(record, fmt, texts)
        return Screened(record, rejections if self.options.pii == "reject" else [], "\n".join(texts.values()))

    def keeps(self, text: str, role: Role, row: BadRow) -> bool:
        """False when the row (where it is: a BadRow without a reason) is a duplicate (training) or contaminated
        (held-out) row that the options drop."""
        if self._index is None:
            return True
        if role == "eval":
            return self._keeps_held_out(self._index.find(text), row.location)
        indexed = len(self._index)
        match = self._index.find_then_add(text)
        if len(self._index) > indexed:
            self._locations.add(row)
        if match is None or self.options.dedup == "off":
            return True
        summary = self._duplicates
        setattr(summary, match.kind, getattr(summary, match.kind) + 1)
        _list_pair(summary.pairs, row.location, self._locations, match)
        dropped = self.options.dedup == "near" or (self.options.dedup == "exact" and match.kind == "exact")
        summary.dropped += dropped
        return not dropped

    def summary(self, usable_train_rows: int, token_length_histogram: dict[str, int]) -> DataQuality:
        duplicates = self._duplicates.model_copy()
        duplicates.unindexed_rows = self._index.unindexed if self._index else 0
        duplicates.checked_rows = usable_train_rows + duplicates.dropped
        duplicates.rate = (duplicates.exact + duplicates.near) / max(1, duplicates.checked_rows)
        return DataQuality(
            pii=PiiSummary(
                mode=self.options.pii,
                findings_by_type=dict(sorted(self._pii_types.items())),
                findings_by_field={name: count for name, count in sorted(self._pii_fields.items()) if count},
                rows_with_findings=self._pii_rows,
                unredacted_findings=self._pii_unredacted,
            ),
            duplicates=duplicates,
            contamination=self._contamination,
            token_length_histogram=token_length_histogram,
        )

    def _keeps_held_out(self, match: Match | None, location: str) -> bool:
        summary = self._contamination
        summary.eval_rows += 1
        if match is None:
            return True
        setattr(summary, match.kind, getattr(summary, match.kind) + 1)
        _list_pair(summary.pairs, location, self._locations, match)
        summary.dropped += self.options.decontaminate
        return not self.options.decontaminate


def field_texts(record: dict, fmt: str) -> list[tuple[str, str]]:
    """(field, text) for each string the format reads; chat messages are `messages[N].content` (from 1)."""
    if fmt == "chat":
        messages = record.get("messages")
        if not isinstance(messages, list):
            return []
        return [
            (f"messages[{number}].content", message["content"])
            for number, message in enumerate(messages, start=1)
            if isinstance(message, dict) and isinstance(message.get("content"), str)
        ]
    return [(name, record[name]) for name in FORMAT_FIELDS.get(fmt, ()) if isinstance(record.get(name), str)]


def with_field_texts(record: dict, fmt: str, texts: dict[str, str]) -> dict:
    """A copy of record with the texts field_texts named replaced."""
    if fmt != "chat":
        return {**record, **texts}
    messages = [
        {**message, "content": texts[f"messages[{number}].content"]}
        if f"messages[{number}].content" in texts
        else message
        for number, message in enumerate(record["messages"], start=1)
    ]
    return {**record, "messages": messages}


def token_length_histogram(lengths: list[int]) -> dict[str, int]:
    """Examples per power-of-two bucket of token length: `1-16`, `17-32`, `33-64`, ..."""
    counts: Counter = Counter()
    for length in lengths:
        upper = max(16, 1 << (length - 1).bit_length())
        counts[upper] += 1
    return {f"{1 if upper == 16 else upper // 2 + 1}-{upper}": counts[upper] for upper in sorted(counts)}


def _list_pair(pairs: list[str], later: str, locations: RowLocations, match: Match) -> None:
    if len(pairs) < LISTED_LOCATIONS:
        similarity = "=" if match.kind == "exact" else f"≈ ({match.similarity:.2f})"
        pairs.append(f"{later} {similarity} {locations.location(match.row)}")
