"""The folders merge and combine write: never over a source, never over existing work unasked; and
the record file (`adaptlab_merge.json`, `adaptlab_combine.json`) each leaves in its folder."""

from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel

from adaptlab import atomic
from adaptlab.errors import ArtifactError, ConfigError

RecordT = TypeVar("RecordT", bound=BaseModel)


def check_output_folder(out: Path, sources: list[Path], *, overwrite: bool) -> None:
    out_resolved = Path(out).resolve()
    for source in sources:
        source_resolved = Path(source).resolve()
        if out_resolved == source_resolved or source_resolved in out_resolved.parents:
            raise ConfigError(f"--out {out} is (inside) the source folder {source}; choose a new folder")
        if out_resolved in source_resolved.parents:
            raise ConfigError(f"--out {out} contains the source folder {source}, which writing it would replace; choose a new folder")
    if out_resolved.is_file():
        raise ConfigError(f"--out {out} is a file; choose a folder")
    if out_resolved.is_dir() and any(out_resolved.iterdir()) and not overwrite:
        raise ConfigError(f"--out {out} already exists and is not empty; choose another folder or pass --overwrite")


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
