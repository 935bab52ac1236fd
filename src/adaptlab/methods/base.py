"""What every fine-tuning method provides."""

from pathlib import Path
from typing import Literal, Protocol

from torch import nn

from adaptlab.models import ResolvedModel
from adaptlab.schemas.train_config import TrainConfig


class FineTuningMethod(Protocol):
    artifact_kind: Literal["peft_adapter", "hf_model"]

    def prepare(self, base: ResolvedModel, config: TrainConfig) -> nn.Module:
        """Load the base and return it ready to train (only the method's parameters require grad)."""

    def save(self, model: nn.Module, out_dir: Path) -> None:
        """Write the method's artifact (safetensors) into out_dir."""

    def load_trained(self, base: ResolvedModel, run_dir: Path) -> nn.Module:
        """Load what `save` wrote, on the base it was trained on, ready for inference."""



def enable_gradient_checkpointing(model: nn.Module) -> None:
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.config.use_cache = False
