"""`adaptlab_adapter.json`: written beside every adapter adaptlab produces, so a later load can
check that the adapter meets the base model it was trained on."""

from pathlib import Path

from pydantic import BaseModel, Field

from adaptlab import atomic
from adaptlab.errors import ArtifactError

ADAPTER_METADATA_FILE = "adaptlab_adapter.json"


class AdapterMetadata(BaseModel):
    base_model_spec: str = Field(description="what `--model` resolves again: builtin:<name>, a folder, a .gguf file or a hub id")
    base_model_id: str
    base_weights_sha256: str = Field(description="adaptlab.models.hashing.weights_sha256 of the base folder")
    method: str = Field(description="lora, dora or qlora (or combine:<how> / merge sources for derived adapters)")
    parents: list[str] = Field(default=[], description="adapter folders this one was derived from")
    adaptlab_version: str


def write_adapter_metadata(adapter_dir: Path, metadata: AdapterMetadata) -> None:
    atomic.write_text(Path(adapter_dir) / ADAPTER_METADATA_FILE, metadata.model_dump_json(indent=2) + "\n")


def read_adapter_metadata(adapter_dir: Path) -> AdapterMetadata | None:
    """The metadata, or None for adapters from elsewhere (plain PEFT folders)."""
    path = Path(adapter_dir) / ADAPTER_METADATA_FILE
    if not path.is_file():
        return None
    try:
        return AdapterMetadata.model_validate_json(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ArtifactError(f"{path}: invalid adapter metadata: {exc}") from exc
