"""A combined adapter's data-quality summary, derived from its sources' summaries."""

import pytest

from adaptlab.adapters.combined_quality import combined_quality
from adaptlab.schemas.data_quality import ContaminationSummary, DataQuality, DuplicateSummary, PiiSummary
from adaptlab.schemas.run_record import DataInfo


def data(tokenized: str, quality: DataQuality | None, train_examples: int = 10) -> DataInfo:
    return DataInfo(
        format="chat", files=[], train_examples=train_examples, eval_examples=0, train_target_tokens=0,
        tokenized_sha256=tokenized, quality=quality,
    )


def quality(pii_mode="report", emails=0, dedup_mode="report", duplicates=0, checked_rows: int | None = 10, threshold=0.8):
    return DataQuality(
        pii=PiiSummary(
            mode=pii_mode, findings_by_type={"EMAIL": emails} if emails else {}, findings_by_field={"prompt": emails} if emails else {},
            rows_with_findings=emails, unredacted_findings=emails if pii_mode == "report" else 0,
        ),
        duplicates=DuplicateSummary(
            mode=dedup_mode, threshold=threshold, near=duplicates, checked_rows=checked_rows,
            rate=duplicates / checked_rows if checked_rows else 0.0, pairs=[f"d{duplicates}"] if duplicates else [],
        ),
        contamination=ContaminationSummary(eval_rows=4, exact=1),
        token_length_histogram={"1-16": 2, "33-64": 1},
    )


def test_counts_are_summed_and_the_duplicate_rate_weighted_by_checked_rows():
    combined = combined_quality([
        ("a", data("ha", quality(emails=2, duplicates=30, checked_rows=100, threshold=0.7))),
        ("b", data("hb", quality(pii_mode="redact", emails=5, duplicates=0, checked_rows=300))),
        ("a-again", data("ha", quality(emails=2, duplicates=30, checked_rows=100, threshold=0.7))),  # same data: counted once
    ])
    assert (combined.pii.mode, combined.pii.findings_by_type, combined.pii.findings_by_field) == ("redact+report", {"EMAIL": 7}, {"prompt": 7})
    assert (combined.pii.rows_with_findings, combined.pii.unredacted_findings, combined.pii.unchecked_sources) == (7, 2, [])
    duplicates = combined.duplicates
    assert (duplicates.near, duplicates.checked_rows, duplicates.rate, duplicates.threshold) == (30, 400, pytest.approx(0.075), 0.8)
    assert duplicates.pairs == ["d30"]
    assert (combined.contamination.eval_rows, combined.contamination.exact) == (8, 2)
    assert list(combined.token_length_histogram.items()) == [("1-16", 4), ("33-64", 2)]


def test_sources_without_a_check_are_named_and_left_out_of_the_counts():
    combined = combined_quality([
        ("no-pii", data("h1", quality(pii_mode="off", dedup_mode="near", duplicates=1))),
        ("no-summary", data("h2", None)),
        ("unknown", None),
        ("ok", data("h3", quality(emails=1, duplicates=2))),
    ])
    assert combined.pii.unchecked_sources == ["no-pii", "no-summary", "unknown"]
    assert combined.pii.findings_by_type == {"EMAIL": 1} and combined.pii.mode == "report"
    assert combined.duplicates.unchecked_sources == ["no-summary", "unknown"]
    assert (combined.duplicates.mode, combined.duplicates.near, combined.duplicates.checked_rows) == ("near+report", 3, 20)


def test_a_nested_combination_carries_its_unchecked_sources_and_old_summaries_use_their_examples():
    inner = combined_quality([("x", data("hx", quality(checked_rows=None, duplicates=0), train_examples=50)), ("y", None)])
    outer = combined_quality([("inner", data("hi", inner)), ("z", data("hz", quality(duplicates=5)))])
    assert outer.pii.unchecked_sources == ["y"] and outer.duplicates.unchecked_sources == ["y"]
    assert (outer.duplicates.checked_rows, outer.duplicates.rate) == (60, pytest.approx(5 / 60))


def test_no_known_source_gives_checks_that_are_off():
    combined = combined_quality([("a", None), ("b", data("hb", None))])
    assert (combined.pii.mode, combined.duplicates.mode) == ("off", "off")
    assert combined.pii.unchecked_sources == combined.duplicates.unchecked_sources == ["a", "b"]
