"""`report.json`: one comparison of fine-tuning methods on the same base, data, seed and token budget.

Schema documented in docs/compare.md; versioned with `schema_version`, readers refuse versions they
do not know (version 1, before intervals, is still read; a version-2 report from before --seeds reads as
one seed per method). Derived figures (relative score, forgetting, cost) are computed by the pure functions
below, and their intervals by adaptlab.compare.uncertainty from the per-example scores, so a report can be
regenerated from the measured ones.
"""

import json
import math
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from adaptlab.compare.costs import cost_usd
from adaptlab.compare.settings_checks import SettingsWarning
from adaptlab.errors import ArtifactError
from adaptlab.eval.metrics import MetricName
from adaptlab.methods import METHODS
from adaptlab.schemas.forgetting import MethodForgetting
from adaptlab.schemas.review import ReviewResults
from adaptlab.schemas.run_record import EvalPoint, LossPoint, Method, RunRecord, Topology
from adaptlab.stats.intervals import Interval
from adaptlab.stats.paired_tests import PairedTest

REPORT_JSON = "report.json"
REPORT_MD = "report.md"
REPORT_HTML = "report.html"
SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)  # 1: no per-example scores, intervals or paired tests

RelativeScoreBasis = Literal["task_metric", "eval_loss"]
METHOD_LABELS: dict[str, str] = {name: method.label for name, method in METHODS.items()}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BaseModelSummary(_Strict):
    spec: str = Field(description="what the user passed to --model")
    model_id: str = Field(description="readable name of the base (hub id, builtin name or folder name)")
    weights_sha256: str = Field(description="canonical hash of the base weights (adaptlab.models.hashing)")
    weights_size_bytes: int = Field(ge=0, description="size of the base weights on disk; one served copy of the base")


class DataFileSummary(_Strict):
    path: str
    sha256: str
    rows: int = Field(ge=0)
    role: Literal["train", "eval"]


class DataSummary(_Strict):
    files: list[DataFileSummary]
    train_examples: int = Field(ge=0)
    eval_examples: int = Field(ge=0)
    token_budget: int = Field(ge=0, description="non-padding training tokens every method sees (equal by construction)")


class ReferenceSet(_Strict):
    description: str = Field(description="what the general reference text is (for forgetting)")
    source: str = Field(description="'builtin' or the --reference file")
    sha256: str
    tokens: int = Field(ge=0, description="tokens the reference loss is averaged over")


class TaskMetricSetup(_Strict):
    name: MetricName
    chosen_by: Literal["auto", "flag"] = Field(description="--metric auto picked it, or the user named it")
    max_new_tokens: int = Field(ge=1, description="greedy decoding stops after this many new tokens")
    examples: int = Field(ge=0, description="eval rows the metric is averaged over")


class PriceUsed(_Strict):
    per_hour_usd: float = Field(ge=0)
    source: str = Field(description="'--price-per-hour' or which documented default (adaptlab.compare.costs)")


class LrTrial(_Strict):
    learning_rate: float = Field(gt=0)
    eval_loss: float = Field(description="held-out loss after the sweep slice of the budget")
    tokens_seen: int = Field(ge=0)


class PerExampleScores(_Strict):
    """What the intervals are bootstrapped from, in the same example order for every method."""

    task_metric: list[float] | None = Field(None, description="the task metric of each scored held-out row, 0..1")
    eval_losses: list[float] = Field(description="mean per-token loss of each held-out example")
    eval_tokens: list[int] = Field(description="target tokens of each held-out example (the loss is token-weighted)")
    reference_losses_before: list[float] = Field(description="mean per-token loss of each reference chunk before fine-tuning")
    reference_losses_after: list[float] = Field(description="the same after fine-tuning")
    reference_tokens: list[int] = Field(description="target tokens of each reference chunk")


class Intervals(_Strict):
    """Bootstrap intervals over the examples (see Comparison.uncertainty); None where a figure has none."""

    task_metric: Interval | None = None
    eval_loss: Interval | None = None
    relative_score: Interval | None = Field(None, description="paired: the method and full FT resampled on the same examples")
    forgetting_percent: Interval | None = None


class VersusFull(_Strict):
    """The paired test of a method against full fine-tuning on the same examples."""

    test: PairedTest
    gap_points: float = Field(gt=0, description="a relative-score gap worth resolving")
    examples_to_resolve_gap: int | None = Field(
        None, description="held-out examples that would resolve that gap (80 % power; from the examples' share of the uncertainty)"
    )
    seeds: int = Field(1, ge=1, description="training seeds per method the test resampled with the examples")


class UncertaintySetup(_Strict):
    level: float = Field(gt=0, lt=1, description="0.95: 95 % intervals")
    resamples: int = Field(gt=0)
    bootstrap_seed: int
    covers: Literal["examples", "examples_and_seeds"] = Field(
        "examples", description="examples: one run per method, the intervals cover the sampling of examples only; "
        "examples_and_seeds: several training seeds, resampled together with the examples"
    )


class SeedRun(_Strict):
    """One training seed's run of a method, when the comparison trained several (--seeds)."""

    training_seed: int = Field(description="seed of initialisation, data order and dropout (the held-out split is the comparison's)")
    run_dir: str = Field(description="the run's folder, relative to the comparison folder")
    eval_loss: float = Field(allow_inf_nan=False)
    task_metric_value: float | None = Field(None, ge=0, le=1)
    relative_score: float | None = Field(None, description="against full fine-tuning's run with the same training seed")
    forgetting_percent: float
    per_example: PerExampleScores
    forgetting: MethodForgetting | None = None


class MethodResult(_Strict):
    method: Method
    run_dir: str = Field(description="the training run's folder, relative to the comparison folder when inside it")
    learning_rate: float = Field(gt=0)
    learning_rate_source: Literal["method_default", "user", "sweep"]
    lr_sweep: list[LrTrial] = Field([], description="the grid tried on a slice of the budget, when swept")
    trainable_params: int = Field(ge=0)
    total_params: int = Field(gt=0)
    trainable_percent: float = Field(ge=0, le=100)
    peak_memory_bytes: int = Field(ge=0)
    peak_memory_kind: Literal["process_rss", "cuda_max_allocated"]
    train_time_s: float = Field(ge=0, description="training loop wall time, model loading and evaluation excluded")
    tokens_per_s: float = Field(ge=0)
    tokens_seen: int = Field(ge=0, description="non-padding tokens processed in training")
    artifact_size_bytes: int = Field(ge=0, description="what the run saves: adapter files, or the whole model for full")
    eval_loss: float = Field(allow_inf_nan=False, description="mean per-token loss on the held-out split")
    eval_perplexity: float
    task_metric_value: float | None = Field(None, ge=0, le=1, description="the comparison's task metric, 0..1")
    relative_score: float | None = Field(None, description="full fine-tuning = 100; see relative_scores()")
    reference_loss_before: float = Field(gt=0, allow_inf_nan=False, description="per-token loss on the reference set before fine-tuning")
    reference_loss_after: float = Field(gt=0, allow_inf_nan=False, description="the same after fine-tuning")
    forgetting_percent: float = Field(description="100 × (after − before) / before; positive = forgot")
    process_cpu_time_s: float | None = Field(None, ge=0, description="CPU time of the training process over the loop (run.json)")
    background_busy_cores: float | None = Field(None, ge=0, description="mean cores other work kept busy while it trained (run.json load)")
    cost_basis: Literal["wall_time", "cpu_time"] = Field(
        "wall_time", description="cpu_time when the wall times are not comparable (Comparison.timing_notes) on CPU"
    )
    cost_usd: float = Field(
        ge=0, description="train_time_s × price per hour × the run's machines; with cost_basis cpu_time, CPU time × price per core"
    )
    loss_curve: list[LossPoint] = []
    eval_curve: list[EvalPoint] = []
    topology: Topology | None = Field(None, description="the run's processes, nodes and strategy (run.json); peak memory is per process")
    per_example: PerExampleScores | None = Field(None, description="absent in schema version 1, and with several seeds (see seed_runs)")
    seed_runs: list[SeedRun] = Field(
        [], description="each seed's run when --seeds > 1: the quality figures above are their means; timings, memory, "
        "cost, curves and `forgetting` are the first seed's run"
    )
    intervals: Intervals = Intervals()
    versus_full: VersusFull | None = Field(None, description="None for full FT itself, without full FT, or without per-example scores")
    forgetting: MethodForgetting | None = Field(None, description="forgetting with intervals, KL, tasks and weight diagnostics")

    @model_validator(mode="after")
    def _sweep_matches_source(self) -> "MethodResult":
        if (self.learning_rate_source == "sweep") != bool(self.lr_sweep):
            raise ValueError("lr_sweep must list the trials exactly when learning_rate_source is 'sweep'")
        if self.seed_runs and self.per_example is not None:
            raise ValueError("per_example belongs in seed_runs when there are several seeds")
        return self

    def seed_scores(self) -> list[PerExampleScores] | None:
        """Per-example scores of every training seed, in seed order; None without any (schema version 1)."""
        if self.seed_runs:
            return [run.per_example for run in self.seed_runs]
        return None if self.per_example is None else [self.per_example]

    @property
    def label(self) -> str:
        return METHOD_LABELS[self.method]


class SkippedMethod(_Strict):
    method: Method
    estimated_train_time_s: float = Field(ge=0, description="what training it would have taken (adaptlab.compare.staged)")
    estimated_cost_usd: float = Field(ge=0)
    estimated_from: str = Field(description="the trained run the estimate scales, and how")


class StagedCheck(_Strict):
    method: Method
    value: float = Field(description="the figure the target was checked on")
    bound: Literal["lower", "upper", "point"] = Field(description="which figure of the 95 % interval that is (point: no interval)")
    met: bool


class StagedOutcome(_Strict):
    """`compare --staged`: the order tried, the target, which run met it and what stopping there saved."""

    order: list[Method]
    target: str
    forced: bool = Field(description="--force-all: every method trained even after the target was met")
    checks: list[StagedCheck] = Field(description="each trained method's check, in training order")
    met_by: Method | None = Field(description="the first method whose interval met the target; None when none did")
    skipped: list[SkippedMethod] = []


class TunedBaseSummary(_Strict):
    """The hybrid's base: full fine-tuning of the original base on the data every client shares (--base-data)."""

    method: Method = Field(description="the method that tuned it (full fine-tuning)")
    run_dir: str = Field(description="its training run folder, relative to the comparison folder when inside it")
    weights_sha256: str = Field(description="canonical hash of its weights: what the hybrid adapters record as their base")
    data_files: list[str] = Field(description="the shared data it was trained on")
    artifact_size_bytes: int = Field(ge=0, description="one served copy of the tuned base")
    peak_memory_bytes: int = Field(ge=0)
    train_time_s: float = Field(ge=0)
    cost_usd: float = Field(ge=0, description="train_time_s × price per hour: paid once for every client")


class Comparison(_Strict):
    schema_version: int = SCHEMA_VERSION
    created_at: datetime
    base_model: BaseModelSummary
    data: DataSummary
    seed: int
    training_seeds: list[int] = Field([], description="the training seeds every method ran with (--seeds); empty before --seeds: one run at `seed`")
    reference: ReferenceSet
    task_metric: TaskMetricSetup | None = None
    relative_score_basis: RelativeScoreBasis | None = Field(None, description="None when there is no full fine-tuning run")
    price: PriceUsed
    hardware: dict[str, str | int | float | None] = Field(description="run.json environment.hardware of the runs")
    methods: list[MethodResult] = Field(min_length=1)
    uncertainty: UncertaintySetup | None = Field(None, description="how the intervals were computed; None in schema version 1")
    timing_notes: list[str] = Field([], description="why the runs' timings and costs are not comparable; empty when they are")
    settings_warnings: list[SettingsWarning] = Field([], description="settings known to hold LoRA back, each with its source")
    data_warnings: list[str] = Field([], description="data problems that inflate the held-out figures (train/eval contamination)")
    human_reviews: list[ReviewResults] = Field(
        [], description="blind human reviews of two of the methods on held-out rows (adaptlab review create --compare), as votes arrive"
    )
    staged: StagedOutcome | None = Field(None, description="set by `compare --staged`: methods not in `methods` were skipped")
    tuned_base: TunedBaseSummary | None = Field(None, description="the hybrid's shared base, when a method trained on it")

    @model_validator(mode="after")
    def _one_result_per_method(self) -> "Comparison":
        names = [result.method for result in self.methods]
        if len(set(names)) != len(names):
            raise ValueError(f"each method may appear once; got {names}")
        return self

    def result(self, method: str) -> MethodResult | None:
        return next((r for r in self.methods if r.method == method), None)


def method_result_from_run(
    record: RunRecord,
    *,
    run_dir: str,
    learning_rate: float,
    learning_rate_source: Literal["method_default", "user", "sweep"],
    reference_loss_before: float,
    reference_loss_after: float,
    price_per_hour_usd: float,
    lr_sweep: Sequence[LrTrial] = (),
    eval_loss: float | None = None,
    task_metric_value: float | None = None,
    per_example: PerExampleScores | None = None,
    forgetting: MethodForgetting | None = None,
) -> MethodResult:
    """One method's row from its finished run's `run.json` plus what the comparison measured around it.

    `eval_loss` defaults to the run's own final held-out loss; `relative_score` is left to with_relative_scores().
    """
    metrics, artifact = record.metrics, record.artifact
    if record.status != "completed" or metrics is None or artifact is None:
        raise ArtifactError(f"{run_dir}: the {record.method} run has not completed; resume it before comparing")
    loss = metrics.eval_loss if eval_loss is None else eval_loss
    if loss is None:
        raise ArtifactError(f"{run_dir}: the {record.method} run has no held-out loss; compare needs an eval split")
    return MethodResult(
        method=record.method,
        run_dir=run_dir,
        learning_rate=learning_rate,
        learning_rate_source=learning_rate_source,
        lr_sweep=list(lr_sweep),
        trainable_params=record.params.trainable,
        total_params=record.params.total,
        trainable_percent=record.params.trainable_percent,
        peak_memory_bytes=metrics.peak_memory_bytes,
        peak_memory_kind=metrics.peak_memory_kind,
        train_time_s=metrics.wall_time_s,
        tokens_per_s=metrics.tokens_per_s,
        tokens_seen=metrics.tokens_seen,
        artifact_size_bytes=artifact.size_bytes,
        eval_loss=loss,
        eval_perplexity=math.exp(min(loss, 50.0)),
        task_metric_value=task_metric_value,
        reference_loss_before=reference_loss_before,
        reference_loss_after=reference_loss_after,
        forgetting_percent=forgetting_percent(reference_loss_before, reference_loss_after),
        process_cpu_time_s=metrics.process_cpu_time_s,
        background_busy_cores=record.load.mean_background_cores if record.load else None,
        cost_usd=cost_usd(metrics.wall_time_s, price_per_hour_usd) * (record.topology.nodes if record.topology else 1),
        loss_curve=record.loss_curve,
        eval_curve=record.eval_curve,
        topology=record.topology,
        per_example=per_example,
        forgetting=forgetting,
    )


def forgetting_percent(before: float, after: float) -> float:
    """Relative change of the per-token reference loss, in percent: 100 × (after − before) / before."""
    if before <= 0:
        raise ValueError(f"reference loss before fine-tuning must be positive, got {before}")
    return 100.0 * (after - before) / before


def full_fine_tuning(results: Sequence[MethodResult]) -> MethodResult | None:
    """Full fine-tuning's result: by definition the reference (= 100) of relative scores and of the paired tests."""
    return next((r for r in results if METHODS[r.method].is_comparison_reference), None)


def relative_scores(results: Sequence[MethodResult]) -> tuple[RelativeScoreBasis | None, dict[str, float]]:
    """Quality of each method relative to full fine-tuning (= 100).

    On the task metric when every method has one and full's is above zero:
        100 × metric(method) / metric(full).
    Otherwise on held-out loss, with quality = exp(−loss) (the geometric-mean probability of a target token):
        100 × exp(loss(full) − loss(method)) = 100 × perplexity(full) / perplexity(method).
    Without a full fine-tuning run there is nothing to compare to: (None, {}).
    """
    full = full_fine_tuning(results)
    if full is None:
        return None, {}
    values = [r.task_metric_value for r in results]
    if all(v is not None for v in values) and full.task_metric_value > 0:
        return "task_metric", {r.method: 100.0 * r.task_metric_value / full.task_metric_value for r in results}
    return "eval_loss", {r.method: 100.0 * math.exp(full.eval_loss - r.eval_loss) for r in results}


def with_relative_scores(results: Sequence[MethodResult]) -> tuple[RelativeScoreBasis | None, list[MethodResult]]:
    """The results with `relative_score` filled in, and the basis it was computed on (for Comparison)."""
    basis, scores = relative_scores(results)
    return basis, [r.model_copy(update={"relative_score": scores.get(r.method)}) for r in results]


def unequal_token_budgets(comparison: Comparison) -> list[str]:
    """Methods whose tokens seen differ from the comparison's token budget (should be none)."""
    return [r.method for r in comparison.methods if r.tokens_seen != comparison.data.token_budget]


def read_comparison(path: Path) -> Comparison:
    """Load `report.json` from a comparison folder (or the file itself), with errors that name the file."""
    path = Path(path)
    file = path / REPORT_JSON if path.is_dir() else path
    if not file.is_file():
        raise ArtifactError(f"{file}: no comparison report here; pass the --out folder of `adaptlab compare`")
    try:
        raw = json.loads(file.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ArtifactError(f"{file}: not valid JSON: {exc}") from exc
    if isinstance(raw, dict) and isinstance(raw.get("clients"), list):
        folders = ", ".join(str(file.parent / str(client.get("folder"))) for client in raw["clients"] if isinstance(client, dict))
        raise ArtifactError(f"{file}: a per-client comparison (compare --base-data); pass one client's folder: {folders}")
    version = raw.get("schema_version") if isinstance(raw, dict) else None
    if version not in READABLE_VERSIONS:
        raise ArtifactError(f"{file}: report schema_version {version!r} is not supported (expected one of {READABLE_VERSIONS})")
    try:
        return Comparison.model_validate(raw)
    except ValueError as exc:
        raise ArtifactError(f"{file}: not a valid comparison report: {exc}") from exc
