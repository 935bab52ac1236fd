"""Lineage is read from the folder, never typed by hand: `run.json` of a training run (base, data,
config, metrics, environment) or `adaptlab_combine.json` of a combined adapter (base, the sources'
data, how and weights, environment), `adaptlab_adapter.json` (parent adapters) and an optional
`evaluation.json` with extra gate metrics (relative_score, forgetting_percent, ...)."""

import json
import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from adaptlab.adapters.metadata import ADAPTER_METADATA_FILE, read_adapter_metadata
from adaptlab.data.prompt_profile import DRIFT_PROFILE_FILE
from adaptlab.registry.gates import DUPLICATE_GATE_METRIC, PII_GATE_METRIC
from adaptlab.errors import ArtifactError
from adaptlab.schemas.run_record import (
    RUN_RECORD_FILE,
    ArtifactInfo,
    BaseModelInfo,
    DataInfo,
    EnvironmentInfo,
    ParamCounts,
    RunMetrics,
    read_run_record,
)
from adaptlab.stats.intervals import Interval

if TYPE_CHECKING:
    from adaptlab.adapters.combine import CombineRecord

EVALUATION_FILE = "evaluation.json"
UNKNOWN_DATA = DataInfo(format="unknown", files=[], train_examples=0, eval_examples=0, train_target_tokens=0, tokenized_sha256="")
COMBINE_INPUTS = {"sources": {"__all__": {"path", "method"}}, "weights": True, "how": True, "density": True, "svd_rank": True, "seed": True}


class EvaluationFile(BaseModel):
    """`evaluation.json` beside run.json: metrics measured after training, e.g. by `adaptlab compare`."""

    model_config = ConfigDict(extra="allow")  # hand-written files may say more (who measured, on what)

    metrics: dict[str, float] = Field(description="metric name -> number, e.g. relative_score: 97.5, forgetting_percent: 1.2")
    measured_by: str | None = Field(None, description="what measured the metrics, e.g. `adaptlab compare`")
    relative_score_basis: str | None = Field(None, description="`task_metric` or `eval_loss`: what relative_score compares (compare only)")
    intervals: dict[str, Interval] = Field({}, description="metric name -> its bootstrap confidence interval, where one was measured")

    @field_validator("metrics")
    @classmethod
    def _finite(cls, metrics: dict[str, float]) -> dict[str, float]:
        for name, value in metrics.items():
            if not math.isfinite(value):
                raise ValueError(f"metric {name!r} is {value}; metrics must be finite numbers")
        return metrics


class Lineage(BaseModel):
    """Everything needed to answer "which data, which base, which config" for one version."""

    run_id: str = Field(description="the training run's id, or the combination's")
    method: str = Field(description="lora, dora, qlora, full, or combine:<how>")
    run_created_at: datetime
    run_finished_at: datetime | None
    base_model: BaseModelInfo
    data: DataInfo = Field(description="a combination's: the union of its sources' data (format 'unknown' when none is known)")
    config: dict = Field(description="the full training config as used; for a combination its inputs (sources, weights, how, ...)")
    params: ParamCounts
    run_metrics: RunMetrics | None
    evaluation_metrics: dict[str, float] = Field(default={}, description="from evaluation.json, when present")
    evaluation_intervals: dict[str, Interval] = Field(default={}, description="confidence intervals of metrics, from evaluation.json")
    environment: EnvironmentInfo = Field(description="library versions, code commit, hardware")
    adapter_parents: list[str] = Field(default=[], description="parent adapter folders named in adaptlab_adapter.json")
    adapter_parent_weights_sha256: list[str] = Field(
        default=[], description="SHA-256 of each parent's weights file as recorded when this adapter was derived (combinations)"
    )
    parent_versions: list[str] = Field(default=[], description="registered parents, as tenant/name@vN")
    weights_sha256: str | None = Field(
        default=None, description="canonical hash of a whole model's own weights: what a model trained on it records as its base"
    )
    base_version: str | None = Field(
        default=None, description="the registered whole-model version whose weights this one trained on (a hybrid's fine-tuned base)"
    )
    imported_from: str | None = Field(default=None, description="origin of a version imported from a bundle")


@dataclass(frozen=True)
class CapturedRun:
    lineage: Lineage
    artifact_kind: str
    files: dict[str, Path]  # path inside the artifact (POSIX) -> local file


def capture_run(run_dir: Path) -> CapturedRun:
    """Read a finished training run folder or a combined adapter folder; refuse anything else."""
    run_dir = Path(run_dir)
    if (run_dir / RUN_RECORD_FILE).is_file():
        return _capture_training_run(run_dir)
    return _capture_combination(run_dir)


def _capture_training_run(run_dir: Path) -> CapturedRun:
    record = read_run_record(run_dir)
    if record.status != "completed" or record.artifact is None:
        raise ArtifactError(
            f"{run_dir / RUN_RECORD_FILE}: the run has status {record.status!r} and no saved artifact; register a completed run"
        )
    lineage = Lineage(
        run_id=record.run_id,
        method=record.method,
        run_created_at=record.created_at,
        run_finished_at=record.finished_at,
        base_model=record.base_model,
        data=record.data,
        config=record.config,
        params=record.params,
        run_metrics=record.metrics,
        environment=record.environment,
        weights_sha256=_own_weights_sha256(run_dir, record.method),
    )
    return _captured(run_dir, RUN_RECORD_FILE, record.artifact, lineage)


def _own_weights_sha256(run_dir: Path, method: str) -> str | None:
    """A whole model's canonical weights hash, by which an adapter trained on it finds it as its base version."""
    from adaptlab.methods import get_method
    from adaptlab.models.hashing import weights_sha256

    return None if get_method(method).shares_base else weights_sha256(run_dir)


def _capture_combination(folder: Path) -> CapturedRun:
    """A combined adapter folder; merged model folders are refused. The adapters modules are imported
    here because they load transformers, which registering a training run does not need."""
    from adaptlab.adapters.combine import COMBINE_RECORD_FILE, read_combine_record
    from adaptlab.adapters.merge import read_merge_record

    combination = read_combine_record(folder)
    if combination is not None:
        return _captured(folder, COMBINE_RECORD_FILE, combination.artifact, _combination_lineage(combination))
    merge = read_merge_record(folder)
    if merge is not None:
        raise ArtifactError(
            f"{folder}: merged model folders cannot be registered (they carry no lineage record); "
            f"register the adapter it was merged from instead: {merge.adapter_path}"
        )
    raise ArtifactError(
        f"{folder}: no run record here; register the output folder of `adaptlab train` (run.json) "
        f"or of `adaptlab combine` ({COMBINE_RECORD_FILE})"
    )


def _combination_lineage(record: "CombineRecord") -> Lineage:
    return Lineage(
        run_id=record.combine_id,
        method=f"combine:{record.how}",
        run_created_at=record.created_at,
        run_finished_at=record.created_at,
        base_model=BaseModelInfo(
            spec=record.base_model_spec,
            model_id=record.base_model_id,
            path=record.base_model_path,
            weights_sha256=record.base_weights_sha256,
        ),
        data=record.data or UNKNOWN_DATA.model_copy(update={"quality": record.quality}),
        config=record.model_dump(mode="json", include=COMBINE_INPUTS),
        params=record.params,
        run_metrics=None,
        environment=record.environment,
        adapter_parent_weights_sha256=[source.weights_sha256 for source in record.sources],
    )


def _captured(folder: Path, record_file: str, artifact: ArtifactInfo, lineage: Lineage) -> CapturedRun:
    """`lineage` from the folder's record, plus what any folder may add: evaluation.json and the adapter's parents."""
    adapter_metadata = read_adapter_metadata(folder)
    evaluation = read_evaluation(folder)
    lineage = lineage.model_copy(
        update={
            "evaluation_metrics": evaluation.metrics if evaluation else {},
            "evaluation_intervals": evaluation.intervals if evaluation else {},
            "adapter_parents": adapter_metadata.parents if adapter_metadata else [],
        }
    )
    names = [*artifact.files, record_file] + ([EVALUATION_FILE] if evaluation else [])
    names += [DRIFT_PROFILE_FILE] if (folder / DRIFT_PROFILE_FILE).is_file() else []  # a bundle's, carried over
    return CapturedRun(lineage=lineage, artifact_kind=artifact.kind, files=_artifact_files(folder, record_file, names))


def gate_metrics(lineage: Lineage) -> dict[str, float]:
    """The numbers gates can test: run.json `metrics` fields, then evaluation.json (which wins on a clash)."""
    from_run = lineage.run_metrics.model_dump() if lineage.run_metrics else {}
    numbers = {
        name: float(value)
        for name, value in from_run.items()
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    }
    return {**numbers, **data_quality_metrics(lineage.data), **lineage.evaluation_metrics}


def data_quality_metrics(data: DataInfo) -> dict[str, float]:
    """The data checks' gate numbers; a check that was off, predates the checks or left out a combined adapter's
    source gives none, so a gate on it fails as missing rather than passing on a zero nobody measured."""
    quality = data.quality
    if quality is None:
        return {}
    numbers = {}
    if quality.pii.mode != "off" and not quality.pii.unchecked_sources:
        numbers[PII_GATE_METRIC] = float(quality.pii.unredacted_findings)
    if quality.duplicates.mode != "off" and not quality.duplicates.unchecked_sources:
        numbers[DUPLICATE_GATE_METRIC] = quality.duplicates.rate
    return numbers


def missing_data_check_reasons(data: DataInfo) -> dict[str, str]:
    """Why a data gate's number is missing, by metric: the check was off, or which combined sources lacked it."""
    quality = data.quality
    if quality is None:
        reason = "the version's data carries no data-check summary (run.json predates the checks, or the data is unknown)"
        return {PII_GATE_METRIC: reason, DUPLICATE_GATE_METRIC: reason}
    reasons = {}
    for metric, check, summary in ((PII_GATE_METRIC, "PII", quality.pii), (DUPLICATE_GATE_METRIC, "duplicate", quality.duplicates)):
        if summary.unchecked_sources:
            reasons[metric] = f"no {check} check on the data of source {', '.join(summary.unchecked_sources)}"
        elif summary.mode == "off":
            reasons[metric] = f"the data was prepared with the {check} check off"
    return reasons


def read_evaluation(run_dir: Path) -> EvaluationFile | None:
    path = Path(run_dir) / EVALUATION_FILE
    if not path.is_file():
        return None
    try:
        return EvaluationFile.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"{path}: line {exc.lineno}: not valid JSON ({exc.msg})") from exc
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}" for error in exc.errors())
        raise ArtifactError(f'{path}: {problems} (expected {{"metrics": {{"name": number, ...}}}})') from exc


def _artifact_files(run_dir: Path, record_file: str, names: list[str]) -> dict[str, Path]:
    files: dict[str, Path] = {}
    for name in dict.fromkeys(names):
        if Path(name).is_absolute() or ".." in Path(name).parts:
            raise ArtifactError(f"{run_dir / record_file}: artifact file {name!r} points outside the run folder")
        path = run_dir / name
        if path.is_dir():
            files.update({child.relative_to(run_dir).as_posix(): child for child in sorted(path.rglob("*")) if child.is_file()})
        elif path.is_file():
            files[name] = path
        else:
            raise ArtifactError(f"{path}: listed in {record_file} artifact.files but missing; the folder is incomplete")
    if ADAPTER_METADATA_FILE not in files and (run_dir / ADAPTER_METADATA_FILE).is_file():
        files[ADAPTER_METADATA_FILE] = run_dir / ADAPTER_METADATA_FILE
    return files
