"""What every PEFT adapter method shares: wrap the base with `get_peft_model`, save the PEFT folder with our
metadata, reload it with `PeftModel.from_pretrained`. A method supplies its PEFT config (`peft_config`)."""

from abc import abstractmethod
from pathlib import Path

from adaptlab.errors import ConfigError
from adaptlab.methods.base import FineTuningMethod, enable_gradient_checkpointing, trained_head
from adaptlab.schemas.adapter_metadata import AdapterMetadata, write_adapter_metadata
from adaptlab.schemas.train_config import TrainConfig

# PEFT's task type per `--task`; SEQ_CLS also trains and saves the new classification head (modules_to_save)
PEFT_TASK_TYPES = {"causal_lm": "CAUSAL_LM", "classification": "SEQ_CLS"}


class PeftAdapterMethod(FineTuningMethod):
    artifact_kind = "peft_adapter"
    shares_base = True
    peft_type: str  # PEFT's name for the tuner (adapter_config.json's peft_type): how a foreign folder is recognised

    @abstractmethod
    def peft_config(self, config: TrainConfig, base):
        """The PEFT config this run trains (`base`: the resolved base model, for its tokenizer folder)."""

    def load_base(self, base, config: TrainConfig):
        from adaptlab.models import load_model_for_task

        model = load_model_for_task(base.path, config.task, config.labels, allow_pickle=config.allow_pickle)
        if config.gradient_checkpointing:
            enable_gradient_checkpointing(model)
            model.enable_input_require_grads()
        return model

    def prepare(self, base, config: TrainConfig):
        from peft import get_peft_model

        model = self.load_base(base, config)
        try:
            peft_model = get_peft_model(model, self.peft_config(config, base))
        except ValueError as exc:  # PEFT's NoMatchingPeftModuleError, or a module type or shape it cannot adapt
            raise ConfigError(f"--method {self.name} --target-modules {' '.join(config.target_modules)}: {exc}") from None
        peft_model.peft_config["default"].base_model_name_or_path = base.model_id  # a hub id, not our cache path
        return peft_model

    def save(self, model, out_dir: Path, base, state_dict: dict | None = None) -> None:
        # embedding layers are never adapted here; "auto" would look the base up on the hub
        model.save_pretrained(out_dir, safe_serialization=True, save_embedding_layers=False, state_dict=state_dict)
        self.write_metadata(out_dir, base)

    def write_metadata(self, out_dir: Path, base) -> None:
        write_adapter_metadata(out_dir, AdapterMetadata.for_base(base, self.name, quantized_base=self.quantized_base))

    def load_trained(self, base, run_dir: Path):
        from peft import PeftModel

        from adaptlab.models import load_model_for_task

        return PeftModel.from_pretrained(load_model_for_task(base.path, *trained_head(run_dir), load_in_4bit=self.quantized_base), run_dir)

    def total_parameters(self, base_params: int, trainable_params: int) -> int:
        return base_params + trainable_params


def target_modules(config: TrainConfig) -> str | list[str]:
    """--target-modules as PEFT takes it: the "all-linear" shorthand, or module names."""
    return "all-linear" if config.target_modules == ["all-linear"] else config.target_modules
