"""Full fine-tuning: every weight of the base is trainable."""

from pathlib import Path

from torch import nn

from adaptlab.methods.base import enable_gradient_checkpointing
from adaptlab.models import ResolvedModel, load_causal_lm
from adaptlab.schemas.train_config import TrainConfig


class FullFineTuning:
    artifact_kind = "hf_model"

    def prepare(self, base: ResolvedModel, config: TrainConfig) -> nn.Module:
        model = load_causal_lm(base.path, allow_pickle=config.allow_pickle)
        model.requires_grad_(True)
        if config.gradient_checkpointing:
            enable_gradient_checkpointing(model)
        return model

    def save(self, model: nn.Module, out_dir: Path) -> None:
        model.save_pretrained(out_dir, safe_serialization=True)

    def load_trained(self, base: ResolvedModel, run_dir: Path) -> nn.Module:
        return load_causal_lm(run_dir)
