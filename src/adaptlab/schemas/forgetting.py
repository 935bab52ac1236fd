"""Records of forgetting and weight-space diagnostics: figures with intervals, per-method forgetting signals,
general-ability task results and weight-update diagnostics. Shared by eval/, adapters/, compare/ and the
reports; no torch here, so reading a report stays light."""

from pydantic import BaseModel, ConfigDict, Field

CONFIDENCE_LEVEL = 0.95
TASK_METRIC = "acc"


class Estimate(BaseModel):
    """A figure with its bootstrap interval; low/high are None when fewer than two examples were measured."""

    model_config = ConfigDict(extra="forbid")

    value: float
    low: float | None = None
    high: float | None = None
    level: float = Field(CONFIDENCE_LEVEL, description="confidence level of [low, high]")
    examples: int = Field(ge=0, description="units resampled: reference chunks, held-out examples or task documents")


class ForgettingSignals(BaseModel):
    """Forgetting of one tuned model against the base it trained on, with bootstrap intervals (docs/compare.md)."""

    model_config = ConfigDict(extra="forbid")

    reference_loss_before: Estimate = Field(description="per-token loss of the bare base on the reference text")
    reference_loss_after: Estimate = Field(description="the same for the tuned model")
    forgetting_percent: Estimate = Field(description="100 × (after − before) / before, paired over reference chunks")
    kl_reference: Estimate = Field(description="mean per-token KL(base ‖ tuned), nats, on the reference text")
    kl_held_out: Estimate | None = Field(None, description="the same on the held-out examples' target tokens")


class TaskForgetting(BaseModel):
    """One general-ability task before and after fine-tuning, on the same documents."""

    model_config = ConfigDict(extra="forbid")

    task: str
    metric: str = Field(TASK_METRIC, description="lm-eval's per-document metric, averaged")
    before: Estimate
    after: Estimate
    change: Estimate = Field(description="after − before, paired over documents; negative = forgot")


class DiagnosticsSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    energy_fraction: float = Field(0.9, gt=0, le=1, description="share of ΔW's energy (Σσ²) the effective rank covers")
    top_k: int = Field(10, ge=1, description="top singular vectors of W₀ + ΔW checked for intruders")
    cosine_threshold: float = Field(0.5, gt=0, le=1, description="an intruder's largest |cosine| with W₀'s singular vectors is below this")


class ModuleTypeDiagnostics(BaseModel):
    model_config = ConfigDict(extra="forbid")

    module_type: str = Field(description="last name component of the adapted modules, e.g. q_proj")
    matrices: int = Field(ge=1, description="adapted matrices of this type (one per layer)")
    relative_update_mean: float = Field(ge=0, description="mean over layers of ‖ΔW‖_F / ‖W₀‖_F")
    relative_update_max: float = Field(ge=0)
    effective_rank_mean: float = Field(ge=0)
    effective_rank_max: int = Field(ge=0)
    intruder_dimensions_mean: float = Field(ge=0, description="mean over layers of the intruder count")
    intruder_dimensions_total: int = Field(ge=0)


class WeightDiagnostics(BaseModel):
    """What report.json and `adaptlab adapters inspect --diagnostics` show about a model's weight update."""

    model_config = ConfigDict(extra="forbid")

    settings: DiagnosticsSettings
    decomposition: str = Field(description="which SVD computed the figures")
    seconds: float = Field(ge=0, description="wall time of the decompositions")
    by_module_type: list[ModuleTypeDiagnostics]


class MethodForgetting(BaseModel):
    """One method's forgetting signals, general-ability tasks and weight diagnostics (report.json `methods[].forgetting`)."""

    model_config = ConfigDict(extra="forbid")

    signals: ForgettingSignals
    tasks: list[TaskForgetting] = []
    diagnostics: WeightDiagnostics | None = Field(description="None for a method without a weight delta (prompt/prefix tuning)")
