"""The LoRA family through PEFT: LoRA, DoRA (weight-decomposed), and QLoRA (LoRA on a frozen 4-bit NF4 base)."""

from dataclasses import dataclass
from pathlib import Path

from adaptlab.errors import ConfigError
from adaptlab.methods.base import FineTuningMethod, enable_gradient_checkpointing, trained_head
from adaptlab.schemas.adapter_metadata import AdapterMetadata, write_adapter_metadata
from adaptlab.schemas.train_config import TrainConfig


# PEFT's task type per `--task`; SEQ_CLS also trains and saves the new classification head (modules_to_save)
PEFT_TASK_TYPES = {"causal_lm": "CAUSAL_LM", "classification": "SEQ_CLS"}


def lora_config(config: TrainConfig, use_dora: bool):
    from peft import LoraConfig

    targets = config.target_modules
    return LoraConfig(
        task_type=PEFT_TASK_TYPES[config.task],
        r=config.rank,
        lora_alpha=config.alpha,
        lora_dropout=config.dropout,
        target_modules="all-linear" if targets == ["all-linear"] else targets,
        use_rslora=config.rslora,
        use_dora=use_dora,
    )


@dataclass(frozen=True)
class LoraFamily(FineTuningMethod):
    name: str
    label: str
    description: str
    use_dora: bool = False
    quantized_base: bool = False
    default_learning_rate = 2e-4
    artifact_kind = "peft_adapter"
    shares_base = True

    def prepare(self, base, config: TrainConfig):
        from peft import get_peft_model, prepare_model_for_kbit_training

        from adaptlab.models import load_model_for_task

        # a bf16 run computes the 4-bit matmuls in bf16 too; an fp32 compute dtype would keep fp32 copies of every input
        compute_dtype = "bfloat16" if config.precision == "bf16" else "float32"
        model = load_model_for_task(
            base.path, config.task, config.labels, load_in_4bit=self.quantized_base, compute_dtype=compute_dtype, allow_pickle=config.allow_pickle
        )
        if self.quantized_base:
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

    def save(self, model, out_dir: Path, base) -> None:
        # embedding layers are never adapted here; "auto" would look the base up on the hub
        model.save_pretrained(out_dir, safe_serialization=True, save_embedding_layers=False)
        write_adapter_metadata(out_dir, AdapterMetadata.for_base(base, self.name, quantized_base=self.quantized_base))

    def load_trained(self, base, run_dir: Path):
        from peft import PeftModel

        from adaptlab.models import load_model_for_task

        model = load_model_for_task(base.path, *trained_head(run_dir), load_in_4bit=self.quantized_base)
        return PeftModel.from_pretrained(model, run_dir)

    def total_parameters(self, base_params: int, trainable_params: int) -> int:
        return base_params + trainable_params
