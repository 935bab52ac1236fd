"""What an adapter folder is, read from its files alone (no model is loaded).

Besides rank, alpha and targets it flags the classic surprise: an adapter that carries whole copies
of the embedding or lm_head (modules_to_save, saved embedding layers), which is why some
"small" adapters are as big as the model.
"""

import math
from pathlib import Path

from pydantic import BaseModel, Field

from adaptlab.adapters.files import AdapterFolder, open_adapter_folder, read_adapter_tensors
from adaptlab.schemas.forgetting import WeightDiagnostics

EMBEDDING_NAME_PARTS = ("embed", "lm_head", "wte", "wpe", "output_layer")
LORA_TENSOR_MARKER = ".lora_"


class AdapterInfo(BaseModel):
    path: str
    method: str = Field(description="the adaptlab method (from adaptlab metadata), else derived from the PEFT config")
    rank: int = Field(description="r of the config (0 for tuners without one: IA3, prompt/prefix tuning)")
    alpha: float
    scaling: float = Field(description="alpha / rank, or alpha / sqrt(rank) with rsLoRA")
    rank_pattern: dict[str, int]
    target_modules: list[str] | str | None
    target_module_kinds: list[str] = Field(description="distinct module names targeted (last path component), e.g. q_proj")
    use_dora: bool
    use_rslora: bool
    modules_to_save: list[str]
    base_model_name_or_path: str | None = Field(description="what adapter_config.json names as the base")
    base_model_spec: str | None = Field(description="from adaptlab_adapter.json; None for plain PEFT folders")
    base_model_id: str | None
    base_weights_sha256: str | None
    parents: list[str]
    weights_file: str
    weights_format: str = Field(description="safetensors, or pickle (only read with --allow-pickle)")
    size_on_disk_bytes: int = Field(description="all files in the adapter folder")
    weights_bytes: int
    trainable_params: int | None = Field(description="elements in the weights file; None if the pickle file was not read")
    lora_params: int | None
    full_copy_params: int | None = Field(description="elements in whole-module copies (not LoRA factors)")
    full_copy_tensors: list[str]
    all_lora_b_zero: bool | None = Field(description="every lora_B is zero: a plain LoRA then has no effect")
    warnings: list[str]
    diagnostics: WeightDiagnostics | None = Field(None, description="weight-space diagnostics per module type (--diagnostics)")


def inspect_adapter(path: Path, *, allow_pickle: bool = False) -> AdapterInfo:
    """Describe the adapter folder at `path`; pickle weights are located but only read with `allow_pickle`."""
    folder = open_adapter_folder(Path(path), allow_pickle=True)
    config = folder.config
    metadata = folder.metadata
    readable = not folder.is_pickle or allow_pickle
    tensors = read_adapter_tensors(folder.weights_file) if readable else None
    shapes = {name: tuple(t.shape) for name, t in tensors.items()} if tensors is not None else None
    rank = int(config.get("r", 0))
    alpha = float(config.get("lora_alpha", rank))
    use_rslora = bool(config.get("use_rslora"))
    copies = _full_copies(shapes, folder) if shapes is not None else []
    info = AdapterInfo(
        path=str(folder.path),
        method=folder.method,
        rank=rank,
        alpha=alpha,
        scaling=alpha / (rank**0.5 if use_rslora else rank) if rank else 0.0,
        rank_pattern=config.get("rank_pattern") or {},
        target_modules=_listed(config.get("target_modules")),
        target_module_kinds=_kinds(config.get("target_modules")),
        use_dora=bool(config.get("use_dora")),
        use_rslora=use_rslora,
        modules_to_save=list(config.get("modules_to_save") or []),
        base_model_name_or_path=config.get("base_model_name_or_path"),
        base_model_spec=metadata.base_model_spec if metadata else None,
        base_model_id=metadata.base_model_id if metadata else None,
        base_weights_sha256=metadata.base_weights_sha256 if metadata else None,
        parents=metadata.parents if metadata else [],
        weights_file=folder.weights_file.name,
        weights_format="pickle" if folder.is_pickle else "safetensors",
        size_on_disk_bytes=sum(f.stat().st_size for f in folder.path.rglob("*") if f.is_file()),
        weights_bytes=folder.weights_file.stat().st_size,
        trainable_params=_elements(shapes.values()) if shapes is not None else None,
        lora_params=_elements(s for n, s in shapes.items() if LORA_TENSOR_MARKER in n) if shapes is not None and folder.is_lora else None,
        full_copy_params=_elements(shapes[n] for n in copies) if shapes is not None else None,
        full_copy_tensors=copies,
        all_lora_b_zero=_all_lora_b_zero(tensors) if tensors is not None else None,
        warnings=[],
    )
    info.warnings = adapter_warnings(info, pickle_unread=not readable)
    return info


def adapter_diagnostics(path: Path, model: str | None = None, *, allow_pickle: bool = False) -> WeightDiagnostics:
    """Load the adapter on the base it trained on (4-bit for QLoRA) and measure its weight update."""
    from adaptlab.adapters.diagnostics import weight_diagnostics
    from adaptlab.adapters.loading import load_base_with_adapters, resolve_base
    from adaptlab.errors import CompatibilityError
    from adaptlab.models import load_causal_lm

    folder = open_adapter_folder(Path(path), allow_pickle=allow_pickle)
    method = folder.fine_tuning
    if not method.has_weight_delta:
        raise CompatibilityError(f"{path}: a {folder.method} adapter changes no weight (it trains virtual tokens): no ΔW to diagnose")
    base = resolve_base(model, [folder])
    peft_model, _ = load_base_with_adapters(base, [folder.path], allow_pickle=allow_pickle, load_in_4bit=method.quantized_base)
    # LoRA's update is read from its factors; other tuners' from the merged weights minus the base's
    base_model = None if folder.is_lora else load_causal_lm(base.path, load_in_4bit=method.quantized_base)
    return weight_diagnostics(peft_model, base_model)


def adapter_warnings(info: AdapterInfo, *, pickle_unread: bool) -> list[str]:
    """Human-readable flags for what users trip over."""
    flags = []
    if pickle_unread:
        flags.append("weights are a pickle file (adapter_model.bin) and were not read; pass --allow-pickle to count them")
    if info.full_copy_tensors:
        share = info.full_copy_params / info.trainable_params if info.trainable_params else 0.0
        embedding = [n for n in info.full_copy_tensors if any(part in n for part in EMBEDDING_NAME_PARTS)]
        what = "embedding / lm_head" if embedding else "module"
        flags.append(
            f"carries whole {what} copies ({', '.join(info.full_copy_tensors[:4])}"
            f"{', …' if len(info.full_copy_tensors) > 4 else ''}): {share:.0%} of its parameters are full weights, "
            "not LoRA factors; drop modules_to_save / save_embedding_layers if that was not intended"
        )
    targets = info.target_modules if isinstance(info.target_modules, list) else [info.target_modules or ""]
    tied_candidates = [t for t in targets + info.modules_to_save if any(part in t for part in EMBEDDING_NAME_PARTS)]
    if tied_candidates:
        flags.append(
            f"adapts {', '.join(tied_candidates)}: on models with tied input/output embeddings a merge unties them "
            "(the merged model then stores both matrices)"
        )
    if info.all_lora_b_zero and not info.use_dora and not info.full_copy_tensors:
        flags.append("every lora_B is zero: this adapter has no effect (untrained, or training did not update it)")
    if info.base_weights_sha256 is None:
        flags.append("no adaptlab_adapter.json: the base model cannot be checked by hash when this adapter is loaded")
    return flags


def _full_copies(shapes: dict, folder: AdapterFolder) -> list[str]:
    """Tensors that are whole copies of base modules: for LoRA every non-factor tensor; for other tuners
    (whose own tensors have no common marker) those of the modules_to_save the config names."""
    if folder.is_lora:
        return sorted(name for name in shapes if LORA_TENSOR_MARKER not in name)
    saved = folder.config.get("modules_to_save") or []
    return sorted(name for name in shapes if any(f".{module}." in name for module in saved))


def _all_lora_b_zero(tensors: dict) -> bool | None:
    b_tensors = [t for name, t in tensors.items() if ".lora_B" in name or ".lora_embedding_B" in name]
    if not b_tensors:
        return None
    return all(not bool(t.any()) for t in b_tensors)


def _elements(shapes) -> int:
    return sum(math.prod(shape) for shape in shapes)


def _kinds(target_modules) -> list[str]:
    if isinstance(target_modules, (list, tuple, set)):
        return sorted({name.rsplit(".", 1)[-1] for name in target_modules})
    return [target_modules] if target_modules else []


def _listed(target_modules):
    if isinstance(target_modules, (list, tuple, set)):
        return sorted(target_modules)
    return target_modules
