"""Bad rows: input rows that validation rejects, and the error that lists them when there are too many."""

from dataclasses import dataclass
from typing import Literal

from adaptlab.errors import DataError

MAX_LISTED_BAD_ROWS = 50


@dataclass(frozen=True)
class BadRow:
    file: str
    line: int  # physical line in the file (1-based), or the row number for Parquet (unit="row")
    reason: str
    unit: Literal["line", "row"] = "line"

    @property
    def location(self) -> str:
        return f"{self.file}:{self.line}" if self.unit == "line" else f"{self.file}:row {self.line}"

    def __str__(self) -> str:
        return f"{self.location}: {self.reason}"


def too_many_bad_rows(bad_rows: list[BadRow], max_bad_rows: int) -> DataError:
    """The refusal to start: the verdict, then every bad row as `file:line: reason` (the first 50)."""
    verdict = (
        f"{len(bad_rows)} bad rows exceed --max-bad-rows {max_bad_rows}; "
        "fix these rows, or raise --max-bad-rows to skip them:"
    )
    listed = [f"  {row}" for row in bad_rows[:MAX_LISTED_BAD_ROWS]]
    if len(bad_rows) > MAX_LISTED_BAD_ROWS:
        listed.append(f"  ... and {len(bad_rows) - MAX_LISTED_BAD_ROWS} more")
    return DataError("\n".join([verdict, *listed]))
