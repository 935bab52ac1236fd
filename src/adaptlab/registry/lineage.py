"""Lineage is read from the run folder, never typed by hand: `run.json` (base, data, config,
metrics, environment), `adaptlab_adapter.json` (parent adapters) and an optional
`evaluation.json` with extra gate metrics (relative_score, forgetting_percent, ...)."""

import json
import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from adaptlab.adapters.metadata import ADAPTER_METADATA_FILE, read_adapter_metadata
from adaptlab.errors import ArtifactError
from adaptlab.train.record import (
    RUN_RECORD_FILE,
    BaseModelInfo,
    DataInfo,
    EnvironmentInfo,
    ParamCounts,
    RunMetrics,
    read_run_record,
)

EVALUATION_FILE = "evaluation.json"


class EvaluationFile(BaseModel):
    """`evaluation.json` beside run.json: metrics measured after training, e.g. by `adaptlab compare`."""

    model_config = ConfigDict(extra="allow")

    metrics: dict[str, float] = Field(description="metric name -> number, e.g. relative_score: 97.5, forgetting_percent: 1.2")

    @field_validator("metrics")
    @classmethod
    def _finite(cls, metrics: dict[str, float]) -> dict[str, float]:
        for name, value in metrics.items():
            if not math.isfinite(value):
                raise ValueError(f"metric {name!r} is {value}; metrics must be finite numbers")
        return metrics


class Lineage(BaseModel):
    """Everything needed to answer "which data, which base, which config" for one version."""

    run_id: str
    method: str
    run_created_at: datetime
    run_finished_at: datetime | None
    base_model: BaseModelInfo
    data: DataInfo
    config: dict = Field(description="the full training config as used")
    params: ParamCounts
    run_metrics: RunMetrics | None
    evaluation_metrics: dict[str, float] = Field(default={}, description="from evaluation.json, when present")
    environment: EnvironmentInfo = Field(description="library versions, code commit, hardware")
    adapter_parents: list[str] = Field(default=[], description="parent adapter folders named in adaptlab_adapter.json")
    parent_versions: list[str] = Field(default=[], description="registered parents, as tenant/name@vN")
    imported_from: str | None = Field(default=None, description="origin of a version imported from a bundle")


@dataclass(frozen=True)
class CapturedRun:
    lineage: Lineage
    artifact_kind: str
    files: dict[str, Path]  # path inside the artifact (POSIX) -> local file


def capture_run(run_dir: Path) -> CapturedRun:
    """Read a finished training run folder; refuse unfinished or incomplete ones."""
    run_dir = Path(run_dir)
    record = read_run_record(run_dir)
    if record.status != "completed" or record.artifact is None:
        raise ArtifactError(
            f"{run_dir / RUN_RECORD_FILE}: the run has status {record.status!r} and no saved artifact; register a completed run"
        )
    adapter_metadata = read_adapter_metadata(run_dir)
    evaluation = read_evaluation(run_dir)
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
        evaluation_metrics=evaluation.metrics if evaluation else {},
        environment=record.environment,
        adapter_parents=adapter_metadata.parents if adapter_metadata else [],
    )
    names = [*record.artifact.files, RUN_RECORD_FILE] + ([EVALUATION_FILE] if evaluation else [])
    return CapturedRun(lineage=lineage, artifact_kind=record.artifact.kind, files=_artifact_files(run_dir, names))


def gate_metrics(lineage: Lineage) -> dict[str, float]:
    """The numbers gates can test: run.json `metrics` fields, then evaluation.json (which wins on a clash)."""
    from_run = lineage.run_metrics.model_dump() if lineage.run_metrics else {}
    numbers = {
        name: float(value)
        for name, value in from_run.items()
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    }
    return {**numbers, **lineage.evaluation_metrics}


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


def _artifact_files(run_dir: Path, names: list[str]) -> dict[str, Path]:
    files: dict[str, Path] = {}
    for name in dict.fromkeys(names):
        if Path(name).is_absolute() or ".." in Path(name).parts:
            raise ArtifactError(f"{run_dir / RUN_RECORD_FILE}: artifact file {name!r} points outside the run folder")
        path = run_dir / name
        if path.is_dir():
            files.update({child.relative_to(run_dir).as_posix(): child for child in sorted(path.rglob("*")) if child.is_file()})
        elif path.is_file():
            files[name] = path
        else:
            raise ArtifactError(f"{path}: listed in {RUN_RECORD_FILE} artifact.files but missing; the run folder is incomplete")
    if ADAPTER_METADATA_FILE not in files and (run_dir / ADAPTER_METADATA_FILE).is_file():
        files[ADAPTER_METADATA_FILE] = run_dir / ADAPTER_METADATA_FILE
    return files
