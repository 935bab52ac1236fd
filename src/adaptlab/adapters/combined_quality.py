"""The data-quality summary of a combined adapter, derived from its sources' summaries, so the registry's data
gates (`--require-pii-clean`, `--max-duplicate-rate`) judge a combination as they judge a training run.

Counts are summed over the distinct data sets (one that several sources were trained on counts once): PII findings
by type and by field, rows with findings, unredacted findings; duplicates and their checked rows, so the rate is
the sources' rates weighted by their rows; contamination; token lengths. A mode is the sources' modes joined
(`redact+report`). A source whose data had no such check (pii or dedup `off`, no summary, data unknown) is named
in `unchecked_sources` and left out of the counts; the registry then has no gate number for that check and the
gate fails as missing, naming the source: a combination is never cleaner than its least-known source.
"""

from collections import Counter

from adaptlab.data.options import DataOptions
from adaptlab.schemas.data_quality import (
    LISTED_LOCATIONS,
    ContaminationSummary,
    DataQuality,
    DuplicateSummary,
    PiiSummary,
)
from adaptlab.schemas.run_record import DataInfo

UNCHECKED = "off"


def combined_quality(sources: list[tuple[str, DataInfo | None]]) -> DataQuality:
    """The summary of (source name, its data) pairs, in the order given."""
    distinct: dict[str, tuple[str, DataInfo]] = {}
    unknown: list[str] = []
    for name, data in sources:
        if data is None or data.quality is None:
            unknown.append(name)
        else:
            distinct.setdefault(data.tokenized_sha256, (name, data))
    known = list(distinct.values())
    return DataQuality(
        pii=_combined_pii(known, unknown),
        duplicates=_combined_duplicates(known, unknown),
        contamination=_combined_contamination([data.quality.contamination for _, data in known]),
        token_length_histogram=_summed_histogram([data.quality.token_length_histogram for _, data in known]),
    )


def _combined_pii(known: list[tuple[str, DataInfo]], unknown: list[str]) -> PiiSummary:
    checked = [data.quality.pii for _, data in known if data.quality.pii.mode != UNCHECKED]
    unchecked = [name for name, data in known if data.quality.pii.mode == UNCHECKED]
    return PiiSummary(
        mode=_joined_modes(summary.mode for summary in checked),
        findings_by_type=_summed([summary.findings_by_type for summary in checked]),
        findings_by_field=_summed([summary.findings_by_field for summary in checked]),
        rows_with_findings=sum(summary.rows_with_findings for summary in checked),
        unredacted_findings=sum(summary.unredacted_findings for summary in checked),
        unchecked_sources=_names([*unchecked, *unknown], [summary.unchecked_sources for summary in checked]),
    )


def _combined_duplicates(known: list[tuple[str, DataInfo]], unknown: list[str]) -> DuplicateSummary:
    """The rate over all checked rows; the threshold is the highest of the sources' (a lower one finds more pairs,
    so the combined rate errs on the high side for the gate)."""
    checked = [(data.quality.duplicates, data) for _, data in known if data.quality.duplicates.mode != UNCHECKED]
    unchecked = [name for name, data in known if data.quality.duplicates.mode == UNCHECKED]
    checked_rows = sum(_checked_rows(summary, data) for summary, data in checked)
    duplicates = sum(summary.exact + summary.near for summary, _ in checked)
    return DuplicateSummary(
        mode=_joined_modes(summary.mode for summary, _ in checked),
        threshold=max((summary.threshold for summary, _ in checked), default=DataOptions.model_fields["dedup_threshold"].default),
        exact=sum(summary.exact for summary, _ in checked),
        near=sum(summary.near for summary, _ in checked),
        dropped=sum(summary.dropped for summary, _ in checked),
        rate=duplicates / max(1, checked_rows),
        checked_rows=checked_rows,
        pairs=[pair for summary, _ in checked for pair in summary.pairs][:LISTED_LOCATIONS],
        unchecked_sources=_names([*unchecked, *unknown], [summary.unchecked_sources for summary, _ in checked]),
    )


def _checked_rows(summary: DuplicateSummary, data: DataInfo) -> int:
    """Summaries written before `checked_rows` was kept: the training examples plus the dropped rows (exact unless
    `eval_fraction` held some rows out)."""
    return summary.checked_rows if summary.checked_rows is not None else data.train_examples + summary.dropped


def _combined_contamination(parts: list[ContaminationSummary]) -> ContaminationSummary:
    return ContaminationSummary(
        eval_rows=sum(part.eval_rows for part in parts),
        exact=sum(part.exact for part in parts),
        near=sum(part.near for part in parts),
        dropped=sum(part.dropped for part in parts),
        pairs=[pair for part in parts for pair in part.pairs][:LISTED_LOCATIONS],
    )


def _summed_histogram(parts: list[dict[str, int]]) -> dict[str, int]:
    """Buckets (`1-16`, `17-32`, ...) in order of their lower bound."""
    return dict(sorted(_summed(parts).items(), key=lambda item: int(item[0].split("-")[0])))


def _summed(parts: list[dict[str, int]]) -> dict[str, int]:
    total: Counter = Counter()
    for part in parts:
        total.update(part)
    return dict(sorted(total.items()))


def _joined_modes(modes) -> str:
    return "+".join(sorted(set(modes))) or UNCHECKED


def _names(own: list[str], nested: list[list[str]]) -> list[str]:
    return list(dict.fromkeys([*own, *(name for names in nested for name in names)]))
