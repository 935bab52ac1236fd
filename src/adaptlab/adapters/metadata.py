"""`adaptlab_adapter.json`: written beside every adapter adaptlab produces, so a later load can
check that the adapter meets the base model it was trained on."""

from pathlib import Path

from pydantic import BaseModel, Field

from adaptlab.adapters.records import read_record, write_record

ADAPTER_METADATA_FILE = "adaptlab_adapter.json"


class AdapterMetadata(BaseModel):
    base_model_spec: str = Field(description="what `--model` resolves again: builtin:<name>, a folder, a .gguf file or a hub id")
    base_model_id: str
    base_weights_sha256: str = Field(description="adaptlab.models.hashing.weights_sha256 of the base folder")
    method: str = Field(description="lora, dora or qlora (or combine:<how> / merge sources for derived adapters)")
    parents: list[str] = Field(default=[], description="adapter folders this one was derived from")
    adaptlab_version: str

    @classmethod
    def for_base(cls, base, method: str, parents: list[str] = ()) -> "AdapterMetadata":
        """Metadata for an adapter made on `base` (an adaptlab.models.ResolvedModel) by this adaptlab."""
        from adaptlab import __version__

        return cls(
            base_model_spec=base.spec,
            base_model_id=base.model_id,
            base_weights_sha256=base.weights_sha256,
            method=method,
            parents=list(parents),
            adaptlab_version=__version__,
        )


def write_adapter_metadata(adapter_dir: Path, metadata: AdapterMetadata) -> None:
    write_record(adapter_dir, ADAPTER_METADATA_FILE, metadata)


def read_adapter_metadata(adapter_dir: Path) -> AdapterMetadata | None:
    """The metadata, or None for adapters from elsewhere (plain PEFT folders)."""
    return read_record(adapter_dir, ADAPTER_METADATA_FILE, AdapterMetadata)
