"""The JSON record files an adapter folder carries (adaptlab_adapter.json, adaptlab_merge.json,
adaptlab_combine.json): written atomically, validated on read."""

from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel

from adaptlab import atomic
from adaptlab.errors import ArtifactError

RecordT = TypeVar("RecordT", bound=BaseModel)


def write_record(folder: Path, name: str, record: BaseModel) -> None:
    atomic.write_text(Path(folder) / name, record.model_dump_json(indent=2) + "\n")


def read_record(folder: Path, name: str, model: type[RecordT]) -> RecordT | None:
    """The record file `name` in `folder`, or None when there is none; an invalid one is an ArtifactError."""
    path = Path(folder) / name
    if not path.is_file():
        return None
    try:
        return model.model_validate_json(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ArtifactError(f"{path}: invalid record: {exc}") from exc
