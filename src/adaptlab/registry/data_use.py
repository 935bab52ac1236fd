"""Which versions used a data file (the answer to a deletion request): the hash to look for, and the walk from the
versions whose lineage lists it down through every chain of parent versions."""

import re
from pathlib import Path

from adaptlab.errors import ConfigError
from adaptlab.registry.lineage import Lineage

SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")


def data_sha256(value: str) -> str:
    """A SHA-256 as given (64 hex digits), or the hash of the file it names (as run.json records a data file)."""
    from adaptlab.models.hashing import file_sha256

    if SHA256_HEX.fullmatch(value):
        return value.lower()
    path = Path(value)
    if not path.is_file():
        raise ConfigError(f"--uses-data {value}: neither a SHA-256 (64 hex digits) nor a readable file")
    return file_sha256(path)


def refs_using_data(lineages: dict[str, Lineage], sha256: str) -> set[str]:
    """Versions (ref -> lineage) whose data files include the file with this hash, directly or through any chain of
    parent versions (combined adapters, hybrid bases)."""
    using = {ref for ref, lineage in lineages.items() if any(file.sha256 == sha256 for file in lineage.data.files)}
    grew = True
    while grew:
        children = {ref for ref, lineage in lineages.items() if ref not in using and using & set(lineage.parent_versions)}
        using |= children
        grew = bool(children)
    return using
