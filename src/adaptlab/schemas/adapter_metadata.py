"""`adaptlab_adapter.json`: written beside every adapter adaptlab produces, so a later load can
check that the adapter meets the base model it was trained on (and on which form of it)."""

from pathlib import Path

from pydantic import BaseModel, Field, model_validator

from adaptlab import atomic

ADAPTER_METADATA_FILE = "adaptlab_adapter.json"


class AdapterMetadata(BaseModel):
    base_model_spec: str = Field(description="what `--model` resolves again: builtin:<name>, a folder, a .gguf file or a hub id")
    base_model_id: str
    base_weights_sha256: str = Field(description="adaptlab.models.hashing.weights_sha256 of the base folder")
    method: str = Field(description="lora, dora or qlora (or combine:<how> / merge sources for derived adapters)")
    quantized_base: bool = Field(False, description="trained on a frozen 4-bit (NF4) copy of the base, as QLoRA is")
    parents: list[str] = Field(default=[], description="adapter folders this one was derived from")
    adaptlab_version: str

    @model_validator(mode="before")
    @classmethod
    def _infer_quantized_base(cls, values):
        """Files written before `quantized_base` was recorded: QLoRA was then the only method on a 4-bit base."""
        if isinstance(values, dict) and "quantized_base" not in values:
            values = values | {"quantized_base": values.get("method") == "qlora"}
        return values

    @classmethod
    def for_base(cls, base, method: str, parents: list[str] = (), *, quantized_base: bool = False) -> "AdapterMetadata":
        """Metadata for an adapter made on `base` (an adaptlab.models.ResolvedModel) by this adaptlab."""
        from adaptlab import __version__

        return cls(
            base_model_spec=base.spec,
            base_model_id=base.model_id,
            base_weights_sha256=base.weights_sha256,
            method=method,
            quantized_base=quantized_base,
            parents=list(parents),
            adaptlab_version=__version__,
        )


def write_adapter_metadata(adapter_dir: Path, metadata: AdapterMetadata) -> None:
    atomic.write_text(Path(adapter_dir) / ADAPTER_METADATA_FILE, metadata.model_dump_json(indent=2) + "\n")
