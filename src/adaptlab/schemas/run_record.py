"""`run.json`: the record every training run leaves. Schema documented in docs/run-json.md.

Versioned with `schema_version`; readers refuse versions they do not know.
"""

from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from adaptlab.errors import ArtifactError
from adaptlab.schemas.data_quality import DataQuality

RUN_RECORD_FILE = "run.json"
SCHEMA_VERSION = 1

# The methods' names (one entry per adaptlab.methods.METHODS key) and what their artifacts are.
Method = Literal["full", "lora", "dora", "qlora", "hybrid", "ia3", "loha", "lokr", "oft", "vera", "prompt", "prefix"]
ArtifactKind = Literal["peft_adapter", "hf_model"]


class BaseModelInfo(BaseModel):
    spec: str = Field(description="what the user passed to --model")
    model_id: str = Field(description="a readable name for the base (hub id, builtin name or folder name)")
    path: str = Field(description="local Hugging Face folder the weights were loaded from")
    weights_sha256: str = Field(description="canonical hash of the base weights (adaptlab.models.hashing)")


class DataFileInfo(BaseModel):
    path: str
    sha256: str
    rows: int = Field(description="rows read from the file")
    bad_rows: int = Field(description="rows rejected by validation (and skipped)")
    role: Literal["train", "eval"]


class DataInfo(BaseModel):
    format: str = Field(description="record format: text, prompt_completion, alpaca or chat")
    files: list[DataFileInfo]
    train_examples: int
    eval_examples: int
    train_target_tokens: int = Field(description="tokens that carry loss in one epoch of the training split")
    tokenized_sha256: str = Field(description="hash of the tokenized training and eval examples")
    quality: DataQuality | None = Field(None, description="PII, duplicates, contamination, token lengths (counts only)")


class ParamCounts(BaseModel):
    trainable: int
    total: int
    trainable_percent: float


class LossPoint(BaseModel):
    step: int
    tokens_seen: int = Field(description="non-padding tokens processed so far")
    loss: float
    learning_rate: float


class EvalPoint(BaseModel):
    step: int
    loss: float
    perplexity: float | None = Field(None, description="of a language model's held-out loss")
    metrics: dict[str, float] = Field({}, description="the objective's other held-out figures, e.g. accuracy, macro_f1 and their 95 % interval bounds (_low, _high)")


class RunMetrics(BaseModel):
    peak_memory_bytes: int = Field(description="peak of the whole run, model loading included")
    peak_memory_kind: Literal["process_rss", "cuda_max_allocated"]
    training_peak_memory_bytes: int | None = Field(None, description="peak of the training loop alone, after loading")
    wall_time_s: float = Field(description="training loop time, model loading excluded")
    process_cpu_time_s: float | None = Field(
        None, description="CPU time of the training process over the same loop, all threads; ≈ wall time × cores it had"
    )
    tokens_seen: int = Field(description="non-padding tokens processed in training")
    tokens_per_s: float = Field(description="non-padding tokens per second of training")
    steps: int
    final_train_loss: float | None = None
    eval_loss: float | None = None
    eval_perplexity: float | None = None


class LoadSample(BaseModel):
    elapsed_s: float = Field(description="seconds since training started")
    machine_busy_cores: float = Field(description="cores busy machine-wide over the last interval")
    run_busy_cores: float = Field(description="cores this training process kept busy over the same interval")
    background_busy_cores: float = Field(description="the difference: cores other work took while the run trained")


class MachineLoad(BaseModel):
    """The machine's CPU load sampled while the run trained (adaptlab.train.load_sampler)."""

    cpu_cores: int = Field(description="logical cores of the machine")
    interval_s: float = Field(description="seconds between samples (doubled each time the sample limit was reached)")
    samples: list[LoadSample] = []

    @property
    def mean_background_cores(self) -> float | None:
        return sum(s.background_busy_cores for s in self.samples) / len(self.samples) if self.samples else None


class ArtifactInfo(BaseModel):
    kind: ArtifactKind
    files: list[str]
    size_bytes: int


class EnvironmentInfo(BaseModel):
    adaptlab_version: str
    git_commit: str | None
    libraries: dict[str, str]
    hardware: dict[str, str | int | float | None]


# How the training processes shared the work: one process; data-parallel copies (accelerate DDP, or Ray Train
# workers); parameters, gradients and optimizer state sharded (FSDP2, DeepSpeed ZeRO-3) or gradients and optimizer
# state sharded (ZeRO-2). adaptlab.train.distributed sets it up.
Strategy = Literal["single", "ddp", "fsdp2", "zero2", "zero3", "ray"]


class Topology(BaseModel):
    """Where the run trained, so that memory (per process) and cost (machines × time) stay comparable across runs."""

    strategy: Strategy
    processes: int = Field(ge=1, description="training processes, all nodes together")
    nodes: int = Field(ge=1, description="machines the processes ran on (distinct host names)")


class RunRecord(BaseModel):
    schema_version: int = SCHEMA_VERSION
    run_id: str
    created_at: datetime
    finished_at: datetime | None = None
    status: Literal["running", "completed"]
    method: Method
    config: dict = Field(description="the full TrainConfig as used")
    base_model: BaseModelInfo
    data: DataInfo
    params: ParamCounts
    metrics: RunMetrics | None = None
    loss_curve: list[LossPoint] = []
    eval_curve: list[EvalPoint] = []
    artifact: ArtifactInfo | None = None
    environment: EnvironmentInfo
    precision_chosen: Literal["fp32", "bf16"] | None = Field(None, description="what --precision resolved to")
    precision_reason: str | None = Field(None, description="why: the flag, or what `auto` found in the hardware")
    load: MachineLoad | None = Field(None, description="the machine's load while training (absent in older records)")
    packing_note: str | None = Field(None, description="why --packing was turned off for this method, when it was")
    topology: Topology | None = Field(None, description="processes, nodes and sharding strategy (absent in older records: one process)")


def read_run_record(run_dir: Path) -> RunRecord:
    path = Path(run_dir) / RUN_RECORD_FILE
    if not path.is_file():
        raise ArtifactError(f"{path}: no run record here; is {run_dir} the output folder of `adaptlab train`?")
    try:
        raw = path.read_text(encoding="utf-8")
        record = RunRecord.model_validate_json(raw)
    except ValueError as exc:
        raise ArtifactError(f"{path}: not a valid run record: {exc}") from exc
    if record.schema_version != SCHEMA_VERSION:
        raise ArtifactError(f"{path}: run record schema_version {record.schema_version} is not supported (expected {SCHEMA_VERSION})")
    return record
