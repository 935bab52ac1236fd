"""An adapter folder on disk: its PEFT config, its weights file and our metadata, read safely.

Only `adapter_model.safetensors` is read unless the caller opts into pickle (`adapter_model.bin`),
and a damaged weights file becomes an ArtifactError that names the file instead of a stack trace.
"""

import json
from dataclasses import dataclass
from pathlib import Path

from adaptlab.adapters.metadata import AdapterMetadata, read_adapter_metadata
from adaptlab.errors import ArtifactError, CompatibilityError
from adaptlab.methods import METHODS, FineTuningMethod, method_for_adapter_config

ADAPTER_CONFIG_FILE = "adapter_config.json"
SAFETENSORS_WEIGHTS_FILE = "adapter_model.safetensors"
PICKLE_WEIGHTS_FILE = "adapter_model.bin"
TOKENIZER_MARKER_FILE = "tokenizer_config.json"
LORA_PEFT_TYPE = "LORA"


@dataclass(frozen=True)
class AdapterFolder:
    """What an adapter folder holds, checked but not yet attached to a model."""

    path: Path
    config: dict
    weights_file: Path
    metadata: AdapterMetadata | None

    @property
    def is_pickle(self) -> bool:
        return self.weights_file.name == PICKLE_WEIGHTS_FILE

    @property
    def method(self) -> str:
        """The method adaptlab trained it with (its metadata); derived from the PEFT config for others."""
        if self.metadata is not None:
            return self.metadata.method
        return method_for_adapter_config(self.config).name  # read_adapter_config refused configs without one

    @property
    def fine_tuning(self) -> FineTuningMethod:
        """The method object, for its facts (how it is served, whether it merges): by name for adaptlab's runs,
        else by the PEFT config (adapters derived by combine or merge are LoRA)."""
        return METHODS.get(self.method) or method_for_adapter_config(self.config)

    @property
    def is_lora(self) -> bool:
        """A LoRA-family adapter (LoRA, DoRA, QLoRA): low-rank factors that add up, the kind combine and per-row serving take."""
        return self.config.get("peft_type") == LORA_PEFT_TYPE

    @property
    def has_tokenizer(self) -> bool:
        return (self.path / TOKENIZER_MARKER_FILE).is_file()


def open_adapter_folder(path: Path, *, allow_pickle: bool = False) -> AdapterFolder:
    """Read config and metadata and pick the weights file; the weights themselves are read later."""
    path = Path(path)
    config = read_adapter_config(path)
    return AdapterFolder(
        path=path,
        config=config,
        weights_file=adapter_weights_file(path, allow_pickle=allow_pickle),
        metadata=read_adapter_metadata(path),
    )


def read_adapter_config(path: Path) -> dict:
    config_file = Path(path) / ADAPTER_CONFIG_FILE
    if not Path(path).is_dir():
        raise ArtifactError(f"{path}: no such adapter folder")
    if not config_file.is_file():
        hint = (
            " It holds a full model (config.json): pass it as --model instead."
            if (Path(path) / "config.json").is_file()
            else " Pass the output folder of an adapter run (any method but full) or a PEFT adapter folder."
        )
        raise ArtifactError(f"{path}: not an adapter folder (no {ADAPTER_CONFIG_FILE}).{hint}")
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{config_file}: unreadable adapter config: {exc}") from exc
    if not isinstance(config, dict):
        raise ArtifactError(f"{config_file}: expected a JSON object, found {type(config).__name__}")
    if method_for_adapter_config(config) is None:
        known = sorted({m.peft_type for m in METHODS.values() if hasattr(m, "peft_type")})
        raise CompatibilityError(
            f"{config_file}: peft_type is {config.get('peft_type')!r}; adaptlab handles the PEFT tuners it trains: {', '.join(known)}"
        )
    return config


def require_lora(folder: AdapterFolder, operation: str) -> None:
    """Refuse an operation that only LoRA-family adapters support, naming what the folder holds instead."""
    if not folder.is_lora:
        raise CompatibilityError(
            f"{folder.path}: {operation} takes LoRA-family adapters (lora, dora, qlora) only; this is a "
            f"{folder.method} adapter (peft_type {folder.config.get('peft_type')})"
        )


def adapter_weights_file(path: Path, *, allow_pickle: bool) -> Path:
    """The safetensors weights; the pickle file only with `allow_pickle`, since unpickling can run code."""
    safetensors_file = Path(path) / SAFETENSORS_WEIGHTS_FILE
    pickle_file = Path(path) / PICKLE_WEIGHTS_FILE
    if safetensors_file.is_file():
        return safetensors_file
    if pickle_file.is_file():
        if allow_pickle:
            return pickle_file
        raise ArtifactError(
            f"{pickle_file}: this adapter's weights are a pickle file, which can run code when loaded; "
            "pass --allow-pickle only if you trust its source (or convert it to safetensors)"
        )
    raise ArtifactError(f"{path}: no adapter weights ({SAFETENSORS_WEIGHTS_FILE}) in this folder")


def read_adapter_tensors(weights_file: Path) -> dict:
    """All tensors of the weights file, on CPU; corrupt or truncated files raise ArtifactError."""
    import torch

    try:
        if weights_file.name == PICKLE_WEIGHTS_FILE:
            return torch.load(weights_file, map_location="cpu", weights_only=True)
        from safetensors.torch import load_file

        return load_file(weights_file, device="cpu")
    except Exception as exc:  # safetensors and torch raise several types for damaged files
        raise ArtifactError(
            f"{weights_file}: cannot read adapter weights, the file is corrupt or truncated "
            f"({type(exc).__name__}: {exc}); restore it from the registry or re-run training"
        ) from exc


def read_tensor_shapes(weights_file: Path) -> dict[str, tuple[int, ...]]:
    """Tensor names and shapes from the safetensors header, without reading the data."""
    from safetensors import safe_open

    try:
        with safe_open(str(weights_file), framework="pt") as handle:
            return {name: tuple(handle.get_slice(name).get_shape()) for name in handle.keys()}
    except Exception as exc:
        raise ArtifactError(
            f"{weights_file}: cannot read the safetensors header, the file is corrupt or truncated "
            f"({type(exc).__name__}: {exc}); restore it from the registry or re-run training"
        ) from exc
