"""`DataOptions`: how data files become training examples. The train config embeds it; CLI flags are views of it."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

# The fields each record format reads; `columns` may only rename source columns onto these.
FORMAT_FIELDS: dict[str, tuple[str, ...]] = {
    "text": ("text",),
    "prompt_completion": ("prompt", "completion"),
    "alpaca": ("instruction", "input", "output"),
    "chat": ("messages",),
    "classification": ("text", "label"),
    "preference": ("prompt", "messages", "chosen", "rejected"),
}
KNOWN_FIELDS = tuple(dict.fromkeys(field for fields in FORMAT_FIELDS.values() for field in fields))
MAX_LINE_BYTES = 1 << 20  # far above any max_seq_len's worth of text, far below what tokenizing would choke on


class DataOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: Literal["auto", "text", "prompt_completion", "alpaca", "chat"] = Field(
        default="auto",
        description="record format; auto picks the format most rows' fields match: "
        "{text}, {prompt, completion}, {instruction, input?, output} or {messages}",
    )
    columns: dict[str, str] = Field(
        default={},
        description="read fields from differently named source columns, field -> column, "
        "e.g. text=SMS,label=Label",
    )
    max_seq_len: int = Field(
        default=1024, ge=2, description="longest example in tokens, prompt and response together (--task classification: 128, the objective's default)"
    )
    truncation: Literal["truncate", "reject"] = Field(
        default="truncate",
        description="truncate: cut examples at max_seq_len (a row is bad only if no response token survives); "
        "reject: over-long rows are bad rows",
    )
    train_on_prompt: bool = Field(
        default=False, description="also compute the loss on prompt tokens, not only on responses"
    )
    eval_fraction: float = Field(
        default=0.0,
        ge=0.0,
        lt=1.0,
        description="share of training rows held out for evaluation when no eval files are given; chosen by seed",
    )
    max_bad_rows: int = Field(
        default=0, ge=0, description="how many bad rows may be skipped before the run refuses to start"
    )
    seed: int = Field(default=0, description="seed of the held-out split")
    max_line_bytes: int = Field(
        default=MAX_LINE_BYTES,
        ge=1,
        description="longest row a data file may hold, in bytes: a JSONL/CSV/TSV line, a JSON list element "
        "or a Parquet row; files are streamed, so reading never holds more than one such row",
    )
    pii: Literal["off", "report", "redact", "reject"] = Field(
        default="report",
        description="personal data and secrets (e-mail, phone, card, IBAN, IP, US SSN, API keys): report counts; "
        "redact: replace each finding with <TYPE> before tokenization; reject: each finding is a bad row",
    )
    dedup: Literal["off", "report", "exact", "near"] = Field(
        default="report",
        description="duplicate training rows: report counts; exact: drop rows equal to an earlier one "
        "(whitespace and case aside); near: also drop near-duplicates (see dedup_threshold)",
    )
    dedup_threshold: float = Field(
        default=0.8, gt=0.0, le=1.0, description="Jaccard similarity of word 3-grams at which two rows are near-duplicates"
    )
    dedup_memory_mb: int = Field(
        default=256,
        ge=1,
        description="most memory the duplicate index may hold, in MiB (about 0.5 KB per row of 60 words); rows past "
        "it are still checked against the rows before but not added, and the summary counts them (unindexed_rows)",
    )
    decontaminate: bool = Field(
        default=False,
        description="drop held-out rows that equal or nearly equal a training row (they inflate held-out scores)",
    )

    @field_validator("columns")
    @classmethod
    def _known_fields(cls, columns: dict[str, str]) -> dict[str, str]:
        for field, column in columns.items():
            if field not in KNOWN_FIELDS:
                raise ValueError(f"unknown field {field!r}; map one of {', '.join(KNOWN_FIELDS)} to a source column")
            if not column:
                raise ValueError(f"field {field!r} is mapped to an empty column name")
        return columns
