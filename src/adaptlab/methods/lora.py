"""The LoRA family through PEFT: LoRA, DoRA (weight-decomposed), and QLoRA (LoRA on a frozen 4-bit NF4 base)."""

from dataclasses import dataclass
from pathlib import Path

from torch import nn

from adaptlab.errors import ConfigError
from adaptlab.methods.base import enable_gradient_checkpointing
from adaptlab.models import ResolvedModel, load_causal_lm
from adaptlab.schemas.train_config import TrainConfig


def lora_config(config: TrainConfig, use_dora: bool):
    from peft import LoraConfig, TaskType

    targets = config.target_modules
    return LoraConfig(
        task_type=TaskType.CAUSAL_LM,
        r=config.rank,
        lora_alpha=config.alpha,
        lora_dropout=config.dropout,
        target_modules="all-linear" if targets == ["all-linear"] else targets,
        use_rslora=config.rslora,
        use_dora=use_dora,
    )


@dataclass(frozen=True)
class LoraFamily:
    use_dora: bool
    quantize_base: bool
    artifact_kind = "peft_adapter"

    def prepare(self, base: ResolvedModel, config: TrainConfig) -> nn.Module:
        from peft import get_peft_model, prepare_model_for_kbit_training

        # a bf16 run computes the 4-bit matmuls in bf16 too; an fp32 compute dtype would keep fp32 copies of every input
        compute_dtype = "bfloat16" if config.precision == "bf16" else "float32"
        model = load_causal_lm(base.path, load_in_4bit=self.quantize_base, compute_dtype=compute_dtype, allow_pickle=config.allow_pickle)
        if self.quantize_base:
            model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=config.gradient_checkpointing)
        elif config.gradient_checkpointing:
            enable_gradient_checkpointing(model)
            model.enable_input_require_grads()
        try:
            peft_model = get_peft_model(model, lora_config(config, self.use_dora))
        except ValueError as exc:  # PEFT's NoMatchingPeftModuleError, or a module type it cannot adapt
            raise ConfigError(f"--target-modules {' '.join(config.target_modules)}: {exc}") from None
        peft_model.peft_config["default"].base_model_name_or_path = base.model_id  # a hub id, not our cache path
        return peft_model

    def save(self, model: nn.Module, out_dir: Path) -> None:
        # embedding layers are never adapted here; "auto" would look the base up on the hub
        model.save_pretrained(out_dir, safe_serialization=True, save_embedding_layers=False)

    def load_trained(self, base: ResolvedModel, run_dir: Path) -> nn.Module:
        from peft import PeftModel

        model = load_causal_lm(base.path, load_in_4bit=self.quantize_base)
        return PeftModel.from_pretrained(model, run_dir)
