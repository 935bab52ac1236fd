"""What every training objective provides. The loop asks the objective object these questions (which rows it
reads, how they batch, what loss the model is wrapped in, what it reports on held-out rows); it never tests an
objective's or a task's name."""

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, ClassVar

from adaptlab.schemas.train_config import TrainConfig

if TYPE_CHECKING:
    from torch import nn

    from adaptlab.data import PreparedData
    from adaptlab.methods import FineTuningMethod
    from adaptlab.train.batching import BatchPlan

# What a trained model does, as Hugging Face pipeline tags (model cards; which endpoint serves it)
TEXT_GENERATION = "text-generation"
TEXT_CLASSIFICATION = "text-classification"


class TrainingObjective(ABC):
    """One thing to train a model for: its data, batching, loss and held-out metrics."""

    name: ClassVar[str]  # `--objective`
    task: ClassVar[str]  # `--task`: the kind of model (head) it trains
    # the held-out figures (in `evaluate`'s metrics, each with _low/_high bounds) `compare` judges methods on, the first
    # one the relative score's; none: compare scores generated answers, held-out loss and forgetting instead
    held_out_metrics: ClassVar[tuple[str, ...]] = ()
    # what a model trained for it does, as a Hugging Face pipeline tag: which endpoint serves it, what its card says
    pipeline_tag: ClassVar[str] = TEXT_GENERATION
    # TrainConfig fields whose defaults (set for a causal LM) do not suit this objective: its own, used wherever the
    # user set none (a flag, a YAML key); recorded in run.json like every setting
    default_settings: ClassVar[dict[str, object]] = {}

    def with_defaults(self, config: TrainConfig) -> TrainConfig:
        """`config` with this objective's `default_settings` in the fields the user left unset."""
        unset = {name: value for name, value in self.default_settings.items() if name not in config.model_fields_set}
        return config.model_copy(update=unset)

    @abstractmethod
    def prepare_data(self, config: TrainConfig, tokenizer) -> "PreparedData":
        """Read, validate and tokenize the config's data files (every bad row reported as `file:line: reason`)."""

    def resolved_config(self, config: TrainConfig, data: "PreparedData") -> TrainConfig:
        """The config with what the data decides filled in (kept in run.json, so `--resume` keeps it)."""
        return config

    def baseline_figures(self, data: "PreparedData", config: TrainConfig) -> dict[str, float] | None:
        """The held-out figures a trained model must beat to be worth anything, when the objective has such a baseline."""
        return None

    @abstractmethod
    def batch_plan(self, config: TrainConfig, world_size: int, pad_token_id: int) -> "BatchPlan":
        """How examples become micro-batches (a pure function of examples, seed and epoch)."""

    @abstractmethod
    def loss_module(self, model: "nn.Module", method: "FineTuningMethod", config: TrainConfig, data: "PreparedData", plan: "BatchPlan") -> "nn.Module":
        """The model wrapped so that forward(**micro_batch.tensors) returns the summed loss of the micro-batch.
        Built before a resume loads a checkpoint, so anything it copies or computes from the model is the untrained
        base's; the time it takes (e.g. a pass over `data`) counts as training time."""

    @abstractmethod
    def evaluate(self, loss_module: "nn.Module", data: "PreparedData", plan: "BatchPlan", config: TrainConfig) -> dict:
        """Held-out figures: always `loss`; the objective's own metrics besides."""


def collated_batches(items: Sequence, plan: "BatchPlan", batch_size: int, device) -> Iterator[dict]:
    """`items` in order, `batch_size` at a time, collated as the plan batches them and moved to `device` (for passes
    over data outside training: held-out figures, precomputed log-probabilities)."""
    for start in range(0, len(items), batch_size):
        yield {name: tensor.to(device) for name, tensor in plan.collate(items[start : start + batch_size]).tensors.items()}
