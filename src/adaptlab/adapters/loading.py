"""Put adapters onto a base model, safely: the shared loader for merge, combine, generate and serving.

PEFT does the loading; this module checks, before and after, that the adapter belongs on this
base and that every one of its tensors landed somewhere.
"""

import warnings
from pathlib import Path

from adaptlab.adapters import compat
from adaptlab.adapters.files import (
    AdapterFolder,
    open_adapter_folder,
    read_adapter_tensors,
    read_tensor_shapes,
    require_lora,
)
from adaptlab.errors import CompatibilityError, ConfigError
from adaptlab.models import ResolvedModel, load_causal_lm, load_tokenizer, resolve_model


class AdapterCompatibilityWarning(UserWarning):
    """An adapter loaded, but something about its fit to the base could not be checked or was overridden."""


def adapter_name(index: int) -> str:
    """PEFT's name for the index-th loaded adapter; "default" stays free for derived adapters."""
    return f"adapter_{index}"


def base_spec_of(folder: AdapterFolder) -> str:
    """The `--model` spec an adapter was trained on: our metadata first, then PEFT's base_model_name_or_path."""
    if folder.metadata is not None:
        return folder.metadata.base_model_spec
    named = folder.config.get("base_model_name_or_path")
    if not named:
        raise ConfigError(f"{folder.path}: the adapter does not say which base model it belongs to; pass --model")
    return named


def resolve_base(base: ResolvedModel | str | None, folders: list[AdapterFolder]) -> ResolvedModel:
    """The given base, or the one the first adapter names."""
    if isinstance(base, ResolvedModel):
        return base
    if base is None:
        if not folders:
            raise ConfigError("no base model given: pass --model")
        base = base_spec_of(folders[0])
    return resolve_model(base)


def load_base_with_adapters(
    base: ResolvedModel | str | None,
    adapters: list[Path],
    weights: list[float] | None = None,
    *,
    allow_pickle: bool = False,
    allow_base_mismatch: bool = False,
    load_in_4bit: bool = False,
):
    """(model, tokenizer): the base (full precision, or NF4 with `load_in_4bit`) with every adapter active at once.

    `base=None` takes the base the first adapter names. Each adapter's contribution is scaled by its
    entry in `weights` (default 1.0). With no adapters the plain base model comes back.
    """
    folders = [open_adapter_folder(path, allow_pickle=allow_pickle) for path in adapters]
    resolved = resolve_base(base, folders)
    model = load_causal_lm(resolved.path, load_in_4bit=load_in_4bit, allow_pickle=allow_pickle)
    if folders:
        model = attach_adapters(model, resolved, folders, weights, allow_base_mismatch=allow_base_mismatch)
    model.eval()
    return model, load_tokenizer(tokenizer_dir(resolved, folders))


def tokenizer_dir(base: ResolvedModel, folders: list[AdapterFolder]) -> Path:
    """The first adapter folder that carries a tokenizer (training may have changed it), else the base."""
    return next((folder.path for folder in folders if folder.has_tokenizer), base.path)


def attach_adapters(model, base: ResolvedModel, folders: list[AdapterFolder], weights: list[float] | None = None, *, allow_base_mismatch: bool = False):
    """Load each adapter onto `model` with PEFT (names adapter_0, adapter_1, …) and activate them all, weighted."""
    from peft import PeftModel

    weights = _checked_weights(folders, weights)
    _check_stackable(folders, weights)
    module_names = [name for name, _ in model.named_modules()]
    for folder in folders:
        warning = compat.check_base(folder, base, allow_mismatch=allow_base_mismatch)
        if warning:
            warnings.warn(warning, AdapterCompatibilityWarning, stacklevel=2)
        compat.check_target_modules(folder, base.model_id, module_names)
    peft_model = None
    for index, folder in enumerate(folders):
        name = adapter_name(index)
        file_names = set(_tensor_names(folder))
        try:
            if peft_model is None:
                peft_model = PeftModel.from_pretrained(model, folder.path, adapter_name=name)
            else:
                peft_model.load_adapter(folder.path, adapter_name=name)
        except (ValueError, RuntimeError, KeyError) as exc:  # shape mismatches, unknown layers
            raise CompatibilityError(f"{folder.path}: PEFT could not load this adapter onto {base.model_id}: {exc}") from exc
        compat.check_weight_names(folder, base.model_id, file_names, _expected_tensor_names(peft_model, name, file_names))
    activate_adapters(peft_model, [adapter_name(i) for i in range(len(folders))], weights)
    return peft_model


def activate_adapters(peft_model, names: list[str], weights: list[float]) -> None:
    """Make `names` the active adapters, each LoRA delta scaled by its weight (PEFT sums active LoRA deltas)."""
    from peft.tuners.lora import LoraLayer

    if len(names) == 1:
        peft_model.set_adapter(names[0], inference_mode=True)
    else:
        peft_model.base_model.set_adapter(names, inference_mode=True)
    for module in peft_model.modules():
        if isinstance(module, LoraLayer):
            for name, weight in zip(names, weights):
                module.set_scale(name, weight)


def wrapped_modules(peft_model, name: str) -> set[str]:
    """Names of the base modules that carry the adapter `name`."""
    from peft.tuners.lora import LoraLayer

    return {module_name for module_name, module in peft_model.base_model.model.named_modules()
            if isinstance(module, LoraLayer) and name in module.lora_A}


def adapter_ranks(peft_model, name: str) -> set[int]:
    from peft.tuners.lora import LoraLayer

    return {module.r[name] for module in peft_model.modules() if isinstance(module, LoraLayer) and name in module.r}


def _checked_weights(folders: list[AdapterFolder], weights: list[float] | None) -> list[float]:
    if weights is None:
        return [1.0] * len(folders)
    if len(weights) != len(folders):
        raise ConfigError(f"{len(weights)} adapter weights given for {len(folders)} adapters; give one weight per adapter")
    return list(weights)


def _check_stackable(folders: list[AdapterFolder], weights: list[float]) -> None:
    """Stacking is a sum of LoRA deltas; refuse what would not be one."""
    copies_seen: dict[str, Path] = {}
    for folder, weight in zip(folders, weights):
        if len(folders) > 1 or weight != 1.0:
            require_lora(folder, "stacking and weighting (a sum of scaled low-rank deltas)")
        if len(folders) > 1 and folder.config.get("use_dora"):
            raise CompatibilityError(
                f"{folder.path}: DoRA adapters do not add up when stacked (each rescales the base weights); "
                "merge it first with `adaptlab merge` and stack the others on the merged model"
            )
        copied = folder.config.get("modules_to_save") or []
        if copied and weight != 1.0:
            raise CompatibilityError(
                f"{folder.path}: carries full copies of {copied} (modules_to_save), which a weight cannot scale; "
                "use weight 1.0 for it"
            )
        for module in copied:
            if module in copies_seen:
                raise CompatibilityError(
                    f"{folder.path} and {copies_seen[module]} both carry a full copy of {module!r}; only one can be "
                    "active at a time, so they cannot be stacked"
                )
            copies_seen[module] = folder.path


def _tensor_names(folder: AdapterFolder) -> list[str]:
    if folder.is_pickle:
        return list(read_adapter_tensors(folder.weights_file))
    return list(read_tensor_shapes(folder.weights_file))


def _expected_tensor_names(peft_model, name: str, file_names: set[str]) -> set[str]:
    """What PEFT would save for this adapter, plus any saved full copies of base layers that exist in the model.

    (`save_embedding_layers=False` keeps PEFT from asking the Hugging Face hub about the base's vocabulary.)
    """
    from peft import get_peft_model_state_dict

    adapter_names = set(get_peft_model_state_dict(peft_model, adapter_name=name, save_embedding_layers=False))
    return adapter_names | (file_names & set(peft_model.state_dict()))
