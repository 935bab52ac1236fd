"""A LoRA adapter whose update is exactly zero, for the base model's own requests on engines that batch
LoRA and non-LoRA rows together wrongly (vLLM: base-model rows batched with LoRA rows came back with
another adapter's tokens). Routed through it, every row of every batch is a LoRA row, and the base's rows
still get the base's tokens. A PEFT folder: `PeftModel.from_pretrained` loads it."""

from collections.abc import Mapping
from pathlib import Path

from adaptlab import atomic
from adaptlab.models import ResolvedModel

ZERO_ADAPTER_NAME = "adaptlab-base-zero-lora"
PEFT_PREFIX = "base_model.model."


def base_module_shapes(model_dir: Path) -> dict[str, object]:
    """The base's modules by name, built on the meta device: shapes and types, no weights read or allocated."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(model_dir))
    return dict(model.named_modules())


def zero_adapter_tensors(modules: Mapping[str, object]) -> tuple[list[str], dict]:
    """(target module names, rank-1 all-zero lora_A/lora_B tensors) for every Linear layer but the output head."""
    import torch

    linears = {name: module for name, module in modules.items() if isinstance(module, torch.nn.Linear) and name != "lm_head"}
    tensors = {}
    for name, module in linears.items():
        tensors[f"{PEFT_PREFIX}{name}.lora_A.weight"] = torch.zeros((1, module.in_features))
        tensors[f"{PEFT_PREFIX}{name}.lora_B.weight"] = torch.zeros((module.out_features, 1))
    return sorted({name.rsplit(".", 1)[-1] for name in linears}), tensors


def write_zero_adapter(folder: Path, base: ResolvedModel, modules: Mapping[str, object]) -> Path:
    """The zero adapter for `base` in `folder` (written once, atomically; the same base always gives the same files)."""
    from safetensors.torch import save

    if (folder / "adapter_config.json").is_file():
        return folder
    targets, tensors = zero_adapter_tensors(modules)
    config = {
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "base_model_name_or_path": base.model_id,
        "r": 1,
        "lora_alpha": 1,
        "lora_dropout": 0.0,
        "bias": "none",
        "target_modules": targets,
        "inference_mode": True,
    }
    with atomic.staging_dir(folder) as staged:
        atomic.write_bytes(staged / "adapter_model.safetensors", save(tensors))
        atomic.write_json(staged / "adapter_config.json", config)
    return folder
