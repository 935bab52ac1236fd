"""Training objectives: what the one training loop optimises. Adding an objective: one module here, one entry
below, and its name in adaptlab.schemas.train_config (`objective`, `task`)."""

from adaptlab.errors import ConfigError
from adaptlab.objectives.base import TEXT_CLASSIFICATION, TEXT_GENERATION, TrainingObjective
from adaptlab.objectives.classification import SequenceClassification
from adaptlab.objectives.dpo import Dpo
from adaptlab.objectives.sft import CausalLmSft
from adaptlab.objectives.simpo import Simpo
from adaptlab.schemas.train_config import TrainConfig

OBJECTIVES: dict[tuple[str, str], TrainingObjective] = {
    (objective.task, objective.name): objective for objective in (CausalLmSft(), Dpo(), Simpo(), SequenceClassification())
}


def get_objective(task: str, name: str) -> TrainingObjective:
    """The objective `name` for models of `task`; a ConfigError listing the pairs there are when none fits."""
    try:
        return OBJECTIVES[(task, name)]
    except KeyError:
        available = ", ".join(f"--task {t} --objective {n}" for t, n in OBJECTIVES)
        raise ConfigError(f"--objective {name} is not available for --task {task}; available: {available}") from None


def recorded_objective(config: dict) -> TrainingObjective:
    """The objective a recorded training config (run.json's `config`, a registry version's lineage) trained for; a
    record without one (a combination of adapters, a run from before objectives) is TrainConfig's default."""
    defaults = TrainConfig.model_fields
    return get_objective(config.get("task", defaults["task"].default), config.get("objective", defaults["objective"].default))


__all__ = ["OBJECTIVES", "TEXT_CLASSIFICATION", "TEXT_GENERATION", "TrainingObjective", "get_objective", "recorded_objective"]
