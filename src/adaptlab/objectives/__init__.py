"""Training objectives: what the one training loop optimises. Adding an objective: one module here, one entry
below, and its name in adaptlab.schemas.train_config (`objective`, `task`)."""

from adaptlab.errors import ConfigError
from adaptlab.objectives.base import TrainingObjective
from adaptlab.objectives.classification import SequenceClassification
from adaptlab.objectives.dpo import Dpo
from adaptlab.objectives.sft import CausalLmSft
from adaptlab.objectives.simpo import Simpo

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


__all__ = ["OBJECTIVES", "TrainingObjective", "get_objective"]
