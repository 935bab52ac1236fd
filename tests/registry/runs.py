"""Real training-run folders for registry tests: a PEFT LoRA adapter saved from builtin:tiny,
its adaptlab_adapter.json, a run.json built with the RunRecord model and optional evaluation.json."""

import hashlib
import json
import shutil
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

from adaptlab import __version__
from adaptlab.adapters.metadata import AdapterMetadata, write_adapter_metadata
from adaptlab.models import ResolvedModel
from adaptlab.schemas.data_quality import ContaminationSummary, DataQuality, DuplicateSummary, PiiSummary
from adaptlab.schemas.run_record import (
    ArtifactInfo,
    BaseModelInfo,
    DataFileInfo,
    DataInfo,
    EnvironmentInfo,
    ParamCounts,
    RunMetrics,
    RunRecord,
)

ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")


def save_lora_adapter(base: ResolvedModel, folder: Path, seed: int = 0) -> Path:
    """A LoRA adapter (q_proj, v_proj, r=4) with seeded non-zero lora_B, saved by PEFT."""
    import torch
    from peft import LoraConfig, get_peft_model

    from adaptlab.models import load_causal_lm

    torch.manual_seed(seed)
    model = get_peft_model(
        load_causal_lm(base.path), LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
    )
    for name, param in model.named_parameters():
        if "lora_B" in name:
            param.data = torch.randn_like(param) * 0.1
    model.save_pretrained(folder)
    return folder


def write_dataset(folder: Path) -> list[DataFileInfo]:
    """Two small chat JSONL files (train/eval) and their DataFileInfo entries."""
    folder.mkdir(parents=True, exist_ok=True)
    infos = []
    for role, rows in (("train", 12), ("eval", 4)):
        path = folder / f"{role}.jsonl"
        lines = [
            json.dumps({"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}]}) for i in range(rows)
        ]
        path.write_text("\n".join(lines) + "\n")
        infos.append(DataFileInfo(path=str(path), sha256=hashlib.sha256(path.read_bytes()).hexdigest(), rows=rows, bad_rows=0, role=role))
    return infos


def make_run(
    adapter: Path,
    base: ResolvedModel,
    data_files: list[DataFileInfo],
    out: Path,
    *,
    eval_loss: float = 2.5,
    evaluation: dict[str, float] | None = None,
    parents: list[str] = (),
    learning_rate: float = 2e-4,
    data_quality: DataQuality | None = None,
) -> Path:
    """A completed lora run folder as `adaptlab train` leaves it."""
    out.mkdir(parents=True)
    for name in ADAPTER_FILES:
        shutil.copy2(adapter / name, out / name)
    write_adapter_metadata(
        out,
        AdapterMetadata.for_base(base, "lora", parents),
    )
    started = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)
    config = {
        "method": "lora",
        "model": base.spec,
        "lora_r": 4,
        "lora_alpha": 8,
        "learning_rate": learning_rate,
        "max_steps": 20,
        "seed": 0,
    }
    record = RunRecord(
        run_id=uuid.uuid4().hex,
        created_at=started,
        finished_at=started + timedelta(seconds=42),
        status="completed",
        method="lora",
        config=config,
        base_model=BaseModelInfo(spec=base.spec, model_id=base.model_id, path=str(base.path), weights_sha256=base.weights_sha256),
        data=DataInfo(
            format="chat", files=data_files, train_examples=12, eval_examples=4, train_target_tokens=96,
            tokenized_sha256=hashlib.sha256("".join(file.sha256 for file in data_files).encode()).hexdigest(),
            quality=data_quality,
        ),
        params=ParamCounts(trainable=1024, total=91_000, trainable_percent=100 * 1024 / 91_000),
        metrics=RunMetrics(
            peak_memory_bytes=512 * 2**20,
            peak_memory_kind="process_rss",
            wall_time_s=41.5,
            tokens_seen=1920,
            tokens_per_s=1920 / 41.5,
            steps=20,
            final_train_loss=eval_loss - 0.2,
            eval_loss=eval_loss,
            eval_perplexity=2.718281828**eval_loss,
        ),
        artifact=ArtifactInfo(
            kind="peft_adapter", files=[*ADAPTER_FILES, "adaptlab_adapter.json"], size_bytes=(adapter / ADAPTER_FILES[1]).stat().st_size
        ),
        environment=EnvironmentInfo(
            adaptlab_version=__version__, git_commit="0123abc", libraries={"torch": "2.13.0", "peft": "0.21.0"}, hardware={"cpu_count": 2}
        ),
    )
    (out / "run.json").write_text(record.model_dump_json(indent=2))
    if evaluation is not None:
        (out / "evaluation.json").write_text(json.dumps({"metrics": evaluation, "source": "test"}))
    return out


def data_quality(
    pii_mode: str = "report", unredacted: int = 0, dedup_mode: str = "report", duplicate_rate: float = 0.0, checked_rows: int = 12
) -> DataQuality:
    """The data-check summary a run.json carries, with the two numbers registry gates read."""
    return DataQuality(
        pii=PiiSummary(mode=pii_mode, findings_by_type={"EMAIL": unredacted} if unredacted else {}, unredacted_findings=unredacted),
        duplicates=DuplicateSummary(
            mode=dedup_mode, threshold=0.8, exact=round(duplicate_rate * checked_rows), rate=duplicate_rate, checked_rows=checked_rows
        ),
        contamination=ContaminationSummary(),
    )
