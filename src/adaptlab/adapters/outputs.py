"""The folders merge and combine write: never over a source, never over existing work unasked."""

from pathlib import Path

from adaptlab.errors import ConfigError


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
