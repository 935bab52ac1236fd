"""The data checks of one pass over the rows: PII (report, redact or reject), duplicates within the training rows,
held-out rows that duplicate training rows (contamination). Rows come in file order, training files first."""

from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

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
    _locations: list[str] = field(default_factory=list)
    _duplicates: DuplicateSummary | None = None
    _contamination: ContaminationSummary = field(default_factory=ContaminationSummary)

    def __post_init__(self) -> None:
        if self.options.dedup != "off" or self.check_contamination:
            self._index = DuplicateIndex(self.options.dedup_threshold)
        self._duplicates = DuplicateSummary(mode=self.options.dedup, threshold=self.options.dedup_threshold)

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

    def keeps(self, text: str, role: Role, location: str) -> bool:
        """False when the row is a duplicate (training) or contaminated (held-out) row that the options drop."""
        if self._index is None:
            return True
        if role == "eval":
            return self._keeps_held_out(self._index.find(text), location)
        match = self._index.find_then_add(text)
        self._locations.append(location)
        if match is None or self.options.dedup == "off":
            return True
        summary = self._duplicates
        setattr(summary, match.kind, getattr(summary, match.kind) + 1)
        _list_pair(summary.pairs, location, self._locations[match.row], match)
        dropped = self.options.dedup == "near" or (self.options.dedup == "exact" and match.kind == "exact")
        summary.dropped += dropped
        return not dropped

    def summary(self, usable_train_rows: int, token_length_histogram: dict[str, int]) -> DataQuality:
        duplicates = self._duplicates.model_copy()
        duplicates.rate = (duplicates.exact + duplicates.near) / max(1, usable_train_rows + duplicates.dropped)
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
        _list_pair(summary.pairs, location, self._locations[match.row], match)
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


def _list_pair(pairs: list[str], later: str, earlier: str, match: Match) -> None:
    if len(pairs) < LISTED_LOCATIONS:
        similarity = "=" if match.kind == "exact" else f"≈ ({match.similarity:.2f})"
        pairs.append(f"{later} {similarity} {earlier}")
