"""Full fine-tuning: every weight of the base is trainable, and the artifact is a whole model."""

from pathlib import Path

from adaptlab.methods.base import FineTuningMethod, enable_gradient_checkpointing, trained_head
from adaptlab.schemas.train_config import TrainConfig


class FullFineTuning(FineTuningMethod):
    name = "full"
    label = "Full FT"
    description = "Full fine-tuning"
    default_learning_rate = 1e-5  # about a tenth of LoRA's best rate (Biderman et al. 2024; PEFT's method comparison)
    artifact_kind = "hf_model"
    shares_base = False
    serving = "whole_model"
    merge_refusal = "its artifact is already a whole model"
    is_comparison_reference = True

    def prepare(self, base, config: TrainConfig):
        from adaptlab.models import load_model_for_task

        model = load_model_for_task(base.path, config.task, config.labels, allow_pickle=config.allow_pickle)
        model.requires_grad_(True)
        if config.gradient_checkpointing:
            enable_gradient_checkpointing(model)
        return model

    def save(self, model, out_dir: Path, base, state_dict: dict | None = None) -> None:
        model.save_pretrained(out_dir, safe_serialization=True, state_dict=state_dict)

    def load_trained(self, base, run_dir: Path):
        from adaptlab.models import load_model_for_task

        return load_model_for_task(run_dir, trained_head(run_dir)[0])

    def total_parameters(self, base_params: int, trainable_params: int) -> int:
        return max(base_params, trainable_params)  # every weight trains, a new head (classification) among them
