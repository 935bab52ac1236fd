"""Real PEFT adapters on the built-in tiny model, made the way the training engine saves them.

A fresh LoRA has lora_B = 0 and so no effect; `make_adapter` sets lora_B to small seeded random
values unless asked for an adapter without effect.
"""

from pathlib import Path

import pytest
import torch

from adaptlab.adapters.metadata import AdapterMetadata, write_adapter_metadata
from adaptlab.models import ResolvedModel, load_causal_lm, load_tokenizer, resolve_model


@pytest.fixture
def make_adapter(tiny_model: ResolvedModel, tmp_path: Path):
    def make(
        name: str,
        *,
        seed: int = 0,
        rank: int = 4,
        alpha: int = 8,
        targets: list[str] | str = ("q_proj", "v_proj"),
        dora: bool = False,
        qlora: bool = False,
        rslora: bool = False,
        modules_to_save: list[str] | None = None,
        effect: bool = True,
        metadata: bool = True,
        base: ResolvedModel = tiny_model,
        safe_serialization: bool = True,
    ) -> Path:
        from peft import LoraConfig, get_peft_model

        model = load_causal_lm(base.path, load_in_4bit=qlora)
        config = LoraConfig(
            r=rank,
            lora_alpha=alpha,
            target_modules=targets if isinstance(targets, str) else list(targets),
            use_dora=dora,
            use_rslora=rslora,
            modules_to_save=modules_to_save,
            task_type="CAUSAL_LM",
        )
        torch.manual_seed(seed)
        peft_model = get_peft_model(model, config)
        peft_model.peft_config["default"].base_model_name_or_path = base.model_id
        generator = torch.Generator().manual_seed(seed)
        for param_name, param in peft_model.named_parameters():
            if effect and "lora_B" in param_name:
                param.data = torch.randn(param.shape, generator=generator) * 0.2
            if effect and "modules_to_save" in param_name:
                param.data = param.data + torch.randn(param.shape, generator=generator) * 0.05
        out = tmp_path / name
        peft_model.save_pretrained(out, safe_serialization=safe_serialization)
        if metadata:
            write_adapter_metadata(
                out,
                AdapterMetadata.for_base(base, "qlora" if qlora else "dora" if dora else "lora", quantized_base=qlora),
            )
        return out

    return make


@pytest.fixture
def other_base(tiny_model: ResolvedModel, tmp_path: Path) -> ResolvedModel:
    """The tiny architecture with different weights: same modules, different hash."""
    model = load_causal_lm(tiny_model.path)
    with torch.no_grad():
        model.model.layers[0].self_attn.q_proj.weight.mul_(1.5)
    folder = tmp_path / "other-base"
    model.save_pretrained(folder)
    load_tokenizer(tiny_model.path).save_pretrained(folder)
    return resolve_model(str(folder))
