"""Reading `adaptlab_adapter.json` (the record itself is shared with training: adaptlab.schemas.adapter_metadata)."""

from pathlib import Path

from adaptlab.adapters.sidecar_json import read_record
from adaptlab.schemas.adapter_metadata import ADAPTER_METADATA_FILE, AdapterMetadata, write_adapter_metadata

__all__ = ["ADAPTER_METADATA_FILE", "AdapterMetadata", "read_adapter_metadata", "write_adapter_metadata"]


def read_adapter_metadata(adapter_dir: Path) -> AdapterMetadata | None:
    """The metadata, or None for adapters from elsewhere (plain PEFT folders)."""
    return read_record(adapter_dir, ADAPTER_METADATA_FILE, AdapterMetadata)
