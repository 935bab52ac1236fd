"""The data card: a Markdown summary of the prepared data (counts, token lengths, duplicates, PII by type and by
field, contamination, file hashes). Counts and locations only: a card never quotes a row."""

from adaptlab.schemas.run_record import DataInfo


def data_card(info: DataInfo, tokenizer: str, skipped_bad_rows: int) -> str:
    quality = info.quality
    lines = [
        "# Data card",
        "",
        "| what | value |",
        "|---|---|",
        f"| format | {info.format} |",
        f"| tokenizer | {tokenizer} |",
        f"| train examples | {info.train_examples} |",
        f"| eval examples | {info.eval_examples} |",
        f"| train target tokens | {info.train_target_tokens} |",
        f"| skipped bad rows | {skipped_bad_rows} |",
        f"| tokenized sha256 | `{info.tokenized_sha256}` |",
        "",
        "## Files",
        "",
        "| file | role | rows | bad rows | sha256 |",
        "|---|---|---:|---:|---|",
        *(f"| {file.path} | {file.role} | {file.rows} | {file.bad_rows} | `{file.sha256}` |" for file in info.files),
    ]
    if quality is None:
        return "\n".join(lines) + "\n"
    pii, duplicates, contamination = quality.pii, quality.duplicates, quality.contamination
    lines += [
        "",
        "## Token lengths (training examples)",
        "",
        *_count_table("tokens", quality.token_length_histogram),
        "",
        f"## Duplicates (`dedup: {duplicates.mode}`, threshold {duplicates.threshold})",
        "",
        f"Exact: {duplicates.exact}, near: {duplicates.near}, dropped: {duplicates.dropped}, "
        f"rate: {duplicates.rate:.2%}.",
        *([f"Note: {duplicates.warning()}."] if duplicates.warning() else []),
        *_listed(duplicates.pairs),
        "",
        f"## PII (`pii: {pii.mode}`)",
        "",
        f"Rows with findings: {pii.rows_with_findings}; findings left unredacted: {pii.unredacted_findings}.",
        "",
        *_count_table("type", pii.findings_by_type),
        "",
        *_count_table("field", pii.findings_by_field),
        "",
        "## Contamination (held-out rows equal or nearly equal to a training row)",
        "",
        f"Checked: {contamination.eval_rows}, exact: {contamination.exact}, near: {contamination.near}, "
        f"dropped: {contamination.dropped}.",
        *_listed(contamination.pairs),
    ]
    return "\n".join(lines) + "\n"


def _count_table(what: str, counts: dict[str, int]) -> list[str]:
    if not counts:
        return ["(none)"]
    return [f"| {what} | count |", "|---|---:|", *(f"| {key} | {count} |" for key, count in counts.items())]


def _listed(pairs: list[str]) -> list[str]:
    return ["", *(f"- {pair}" for pair in pairs)] if pairs else []
