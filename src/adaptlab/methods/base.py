"""What every fine-tuning method provides. The loop, the dry run, the comparison and the recommender
ask the method object these questions; none of them tests a method's name.

Imports stay light (no torch, no transformers at import time) so records and reports can ask a
method its facts without loading a model stack.
"""

from abc import ABC, abstractmethod
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal

from adaptlab.schemas.run_record import RUN_RECORD_FILE, ArtifactKind, ParamCounts, read_run_record
from adaptlab.schemas.train_config import TrainConfig

if TYPE_CHECKING:
    from torch import nn

    from adaptlab.models import ResolvedModel

FULL_PRECISION_BASE = "base"
QUANTIZED_BASE = "base-4bit"

# How `adaptlab serve` serves the artifact, cheapest first (docs/serving.md has the table per method):
# per_row: many adapters in one batch on the shared base; merged: one adapter per server, folded into the
# base (`serve --merge`); not_served: no server path (the artifact changes the input, not the weights);
# whole_model: a model of its own per tenant.
ServingMode = Literal["per_row", "merged", "not_served", "whole_model"]
SERVING_COST_RANK: dict[ServingMode, int] = {"per_row": 0, "merged": 1, "not_served": 2, "whole_model": 4}


class FineTuningMethod(ABC):
    """One way to fine-tune: how to prepare, count, save and reload it, and the facts reports need."""

    name: ClassVar[str]  # the registry key; run.json and report.json record it as `method`
    label: ClassVar[str]  # short name in tables and plots
    description: ClassVar[str]  # one line for recommendations
    default_learning_rate: ClassVar[float]
    artifact_kind: ClassVar[ArtifactKind]
    shares_base: ClassVar[bool]  # the artifact is served on one shared base (an adapter), not a whole model per tenant
    quantized_base: bool = False  # trains on, and is measured against, a frozen 4-bit (NF4) copy of the base
    # The hybrid: trains on a base that this method (by name) first fully fine-tunes on shared data (`compare --base-data`),
    # not on the given base. None for methods that train on the given base.
    tuned_base_method: str | None = None
    serving: ServingMode = "per_row"
    has_weight_delta: bool = True  # the artifact changes weights (so weight-space diagnostics apply), not the input
    merge_refusal: str | None = None  # why the artifact cannot be folded into the base (`adaptlab merge`, `serve --merge`)
    packing_refusal: str | None = None  # why packed rows would be wrong for this method (then the run trains unpacked)
    lora_guidance_applies: bool = False  # the published LoRA settings advice (compare's settings warnings) is about it
    is_comparison_reference: bool = False  # the method a comparison's relative scores (= 100) and paired tests are against
    step_cost_note: str | None = None  # why a step costs more compute than the trainable parameters suggest (--dry-run says it)

    @abstractmethod
    def prepare(self, base: "ResolvedModel", config: TrainConfig) -> "nn.Module":
        """Load the base and return it ready to train (only the method's parameters require grad)."""

    @abstractmethod
    def save(self, model: "nn.Module", out_dir: Path, base: "ResolvedModel", state_dict: dict | None = None) -> None:
        """Write the method's artifact (safetensors, plus any record a later load checks) into out_dir. `state_dict`:
        the whole model's weights gathered from sharded processes (FSDP2, ZeRO-3), whose own `model` holds a shard."""

    @abstractmethod
    def load_trained(self, base: "ResolvedModel", run_dir: Path) -> "nn.Module":
        """Load what `save` wrote, on the base it was trained on, ready for inference."""

    @abstractmethod
    def total_parameters(self, base_params: int, trainable_params: int) -> int:
        """Parameters of the trained model: the base's own, plus any the method adds."""

    def parameter_counts(self, model: "nn.Module", base_params: int) -> ParamCounts:
        """Trainable parameters of the prepared model and their share of the whole."""
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        total = self.total_parameters(base_params, trainable)
        return ParamCounts(trainable=trainable, total=total, trainable_percent=100.0 * trainable / total)

    def optimizer(self, model: "nn.Module", config: TrainConfig):
        """AdamW over the trainable parameters at the method's learning rate."""
        import torch

        trainable = [p for p in model.parameters() if p.requires_grad]
        return torch.optim.AdamW(trainable, lr=self.learning_rate(config), weight_decay=config.weight_decay, **adamw_kernel(config))

    def needs_data_pass(self, config: TrainConfig) -> bool:
        """Whether `initialize_from_data` must see training batches before the first step."""
        return False

    def initialize_from_data(self, model: "nn.Module", config: TrainConfig, batches: Iterable[dict]) -> None:
        """Initialise from the run's own training batches (tensors by name); a no-op unless `needs_data_pass`."""

    @property
    def sharding_refusal(self) -> str | None:
        """Why the method cannot train with its parameters sharded across processes (FSDP2, ZeRO-3); None when it can."""
        if self.quantized_base:
            return "its frozen 4-bit base (bitsandbytes) cannot be split across processes; train it data-parallel (ddp, or --launcher ray)"
        return None

    @property
    def serving_cost_rank(self) -> int:
        """Lower serves cheaper (SERVING_COST_RANK); `recommend` prefers lower ranks, then smaller artifacts."""
        return SERVING_COST_RANK[self.serving]

    def learning_rate(self, config: TrainConfig) -> float:
        """The peak learning rate: the config's, or this method's default."""
        return config.learning_rate or self.default_learning_rate

    @property
    def base_variant(self) -> str:
        """The form of the base this method trains on, against which its forgetting is measured."""
        return QUANTIZED_BASE if self.quantized_base else FULL_PRECISION_BASE


def adamw_kernel(config: TrainConfig) -> dict[str, bool]:
    """torch.optim.AdamW's keyword for `--optimizer-kernel` (for_loop: neither fused nor foreach)."""
    return {"fused": {"fused": True}, "foreach": {"foreach": True}, "for_loop": {"foreach": False}}[config.optimizer_kernel]


def enable_gradient_checkpointing(model: "nn.Module") -> None:
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.config.use_cache = False


def trained_head(run_dir: Path) -> tuple[str, list[str]]:
    """The task and labels a run's artifact was trained for, from its run.json (a causal LM when there is none)."""
    if not (Path(run_dir) / RUN_RECORD_FILE).is_file():
        return "causal_lm", []
    config = read_run_record(Path(run_dir)).config
    return config.get("task", "causal_lm"), config.get("labels", [])
