"""Combine several LoRA adapters into one with PEFT's `add_weighted_adapter`, after our compatibility checks.

The result is a normal PEFT adapter folder with `adaptlab_adapter.json` (parents recorded) and
`adaptlab_combine.json`: how, weights, density, and the sources' provenance, so the registry can
take a combination's lineage from it as it takes a training run's from run.json.
"""

import hashlib
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from pydantic import BaseModel, Field

from adaptlab import atomic
from adaptlab.adapters import compat
from adaptlab.adapters.choices import CombinationType
from adaptlab.adapters.combined_quality import combined_quality
from adaptlab.adapters.files import SAFETENSORS_WEIGHTS_FILE, AdapterFolder, open_adapter_folder, require_lora
from adaptlab.adapters.loading import (
    adapter_name,
    adapter_ranks,
    attach_adapters,
    resolve_base,
    tokenizer_dir,
    wrapped_modules,
)
from adaptlab.adapters.metadata import AdapterMetadata, write_adapter_metadata
from adaptlab.adapters.outputs import check_output_folder
from adaptlab.adapters.sidecar_json import read_record, write_record
from adaptlab.errors import ConfigError
from adaptlab.models import ResolvedModel, load_causal_lm, load_tokenizer
from adaptlab.models.hashing import count_parameters, file_sha256
from adaptlab.schemas.data_quality import DataQuality
from adaptlab.train.environment import environment_info
from adaptlab.schemas.run_record import RUN_RECORD_FILE, ArtifactInfo, DataInfo, EnvironmentInfo, ParamCounts, read_run_record

COMBINE_RECORD_FILE = "adaptlab_combine.json"
COMBINED_ADAPTER = "default"  # PEFT saves the "default" adapter at the folder's top level
DEFAULT_DENSITY = 0.5

DENSITY_COMBINATIONS = ("ties", "ties_svd", "dare_linear", "dare_ties", "magnitude_prune")
RANDOM_COMBINATIONS = ("dare_linear", "dare_ties")


class CombineSource(BaseModel):
    """One adapter that went into a combination, as it was when combined."""

    path: str = Field(description="the adapter folder, resolved")
    weights_sha256: str = Field(description="SHA-256 of its weights file when combined: finds its registered version later")
    method: str = Field(description="lora, dora, qlora or combine:<how> (lora for plain PEFT folders)")
    data: DataInfo | None = Field(description="the data it was trained on, from its run.json or combine record; None when unknown")


class CombineRecord(BaseModel):
    """`adaptlab_combine.json`: the inputs of a combination, enough to redo it, and the lineage the registry reads."""

    combine_id: str = Field(description="unique id of this combination (the registry's run id for it)")
    sources: list[CombineSource] = Field(description="the combined adapters, in the order of `weights`")
    weights: list[float]
    how: CombinationType
    density: float | None = Field(description="fraction of values kept (ties, dare_*, magnitude_prune)")
    svd_rank: int | None = Field(description="rank of the result for svd types (None: the largest parent rank)")
    seed: int | None = Field(description="random seed for dare_* pruning")
    rank: int = Field(description="rank of the combined adapter")
    base_model_spec: str
    base_model_id: str
    base_model_path: str = Field(description="local Hugging Face folder of the base")
    base_weights_sha256: str
    params: ParamCounts = Field(description="parameters of the combined adapter (as `trainable`) and of base + adapter")
    artifact: ArtifactInfo = Field(description="the files of the combined adapter, this record aside")
    environment: EnvironmentInfo = Field(description="library versions, code commit, hardware")
    created_at: datetime

    @property
    def parents(self) -> list[str]:
        return [source.path for source in self.sources]

    @property
    def data(self) -> DataInfo | None:
        """The data behind the combination: the union of the sources' data and their combined quality summary,
        None when no source's data is known."""
        union = union_data([source.data for source in self.sources])
        return union.model_copy(update={"quality": self.quality}) if union else None

    @property
    def quality(self) -> DataQuality:
        """The sources' data-quality summaries combined; sources without one are named as unchecked."""
        return combined_quality([(source.path, source.data) for source in self.sources])


def read_combine_record(folder: Path) -> CombineRecord | None:
    return read_record(folder, COMBINE_RECORD_FILE, CombineRecord)


def union_data(parts: list[DataInfo | None]) -> DataInfo | None:
    """Every distinct data file of `parts`; examples and tokens summed over distinct tokenized sets,
    whose hashes are hashed together (sorted) when there are several. A part that is None (data not
    known) adds the format `unknown`, so the union never claims to be complete when it is not."""
    known = [part for part in parts if part is not None]
    if not known:
        return None
    distinct = list({part.tokenized_sha256: part for part in known}.values())
    tokenized = sorted(part.tokenized_sha256 for part in distinct)
    formats = {part.format for part in distinct} | ({"unknown"} if len(known) < len(parts) else set())
    return DataInfo(
        format="+".join(sorted(formats)),
        files=list({(f.path, f.sha256, f.role): f for part in known for f in part.files}.values()),
        train_examples=sum(part.train_examples for part in distinct),
        eval_examples=sum(part.eval_examples for part in distinct),
        train_target_tokens=sum(part.train_target_tokens for part in distinct),
        tokenized_sha256=tokenized[0] if len(tokenized) == 1 else hashlib.sha256(",".join(tokenized).encode()).hexdigest(),
    )


def combine_adapters(
    adapters: list[Path],
    weights: list[float],
    how: CombinationType,
    out: Path,
    *,
    model: ResolvedModel | str | None = None,
    density: float | None = None,
    svd_rank: int | None = None,
    seed: int = 0,
    allow_pickle: bool = False,
    allow_base_mismatch: bool = False,
    overwrite: bool = False,
    progress: Callable[[str], None] = lambda step: None,
) -> CombineRecord:
    """Write the weighted combination of `adapters` to `out` as a PEFT adapter; returns its record."""
    import torch

    density = _checked_options(adapters, weights, how, density, svd_rank)
    folders = [open_adapter_folder(path, allow_pickle=allow_pickle) for path in adapters]
    for folder in folders:
        require_lora(folder, "combine")
    compat.check_combinable_configs(folders)
    check_output_folder(out, adapters, overwrite=overwrite)
    progress("resolving base model")
    base = resolve_base(model, folders)
    check_output_folder(out, [*adapters, base.path], overwrite=overwrite)
    progress(f"loading {base.model_id} and {len(folders)} adapters")
    peft_model = attach_adapters(load_causal_lm(base.path, allow_pickle=allow_pickle), base, folders, allow_base_mismatch=allow_base_mismatch)
    names = [adapter_name(i) for i in range(len(folders))]
    compat.check_factor_wise_combinable(
        how,
        wrapped_modules={str(f.path): wrapped_modules(peft_model, n) for f, n in zip(folders, names)},
        ranks={str(f.path): adapter_ranks(peft_model, n) for f, n in zip(folders, names)},
    )
    progress(f"combining ({how})")
    if how in RANDOM_COMBINATIONS:
        torch.manual_seed(seed)
    peft_model.add_weighted_adapter(
        names, weights, COMBINED_ADAPTER, combination_type=how, svd_rank=svd_rank, density=density
    )
    _fold_rslora_scaling(peft_model)
    combined_config = peft_model.peft_config[COMBINED_ADAPTER]
    combined_config.base_model_name_or_path = folders[0].config.get("base_model_name_or_path") or base.model_id
    combined_config.inference_mode = True
    sources = [_source(folder) for folder in folders]
    progress(f"writing {out}")
    with atomic.staging_dir(Path(out)) as staged:
        peft_model.save_pretrained(staged, selected_adapters=[COMBINED_ADAPTER], save_embedding_layers=False)
        _drop_generated_readme(staged)
        load_tokenizer(tokenizer_dir(base, folders)).save_pretrained(staged)
        write_adapter_metadata(staged, AdapterMetadata.for_base(base, f"combine:{how}", [source.path for source in sources]))
        record = CombineRecord(
            combine_id=uuid.uuid4().hex,
            sources=sources,
            weights=weights,
            how=how,
            density=density,
            svd_rank=svd_rank,
            seed=seed if how in RANDOM_COMBINATIONS else None,
            rank=combined_config.r,
            base_model_spec=base.spec,
            base_model_id=base.model_id,
            base_model_path=str(base.path),
            base_weights_sha256=base.weights_sha256,
            params=_param_counts(staged, base, allow_pickle),
            artifact=ArtifactInfo(
                kind="peft_adapter",
                files=sorted(p.name for p in staged.iterdir()),
                size_bytes=(staged / SAFETENSORS_WEIGHTS_FILE).stat().st_size,
            ),
            environment=environment_info(),
            created_at=datetime.now(timezone.utc),
        )
        write_record(staged, COMBINE_RECORD_FILE, record)
    return record


def _source(folder: AdapterFolder) -> CombineSource:
    """A source adapter and the data it was trained on, read from its run.json or its own combine record."""
    if (folder.path / RUN_RECORD_FILE).is_file():
        data = read_run_record(folder.path).data
    else:
        combined = read_combine_record(folder.path)
        data = combined.data if combined else None
    return CombineSource(path=str(folder.path.resolve()), weights_sha256=file_sha256(folder.weights_file), method=folder.method, data=data)


def _param_counts(adapter_dir: Path, base: ResolvedModel, allow_pickle: bool) -> ParamCounts:
    adapter = count_parameters(adapter_dir)
    total = count_parameters(base.path, allow_pickle=allow_pickle) + adapter
    return ParamCounts(trainable=adapter, total=total, trainable_percent=100.0 * adapter / total)


def _checked_options(adapters: list[Path], weights: list[float], how: str, density: float | None, svd_rank: int | None) -> float | None:
    if len(adapters) < 2:
        raise ConfigError("combine needs at least two adapters")
    if len(weights) != len(adapters):
        raise ConfigError(f"--weights has {len(weights)} values for {len(adapters)} adapters; give one weight per adapter")
    if svd_rank is not None and not how.endswith("svd"):
        raise ConfigError(f"--svd-rank applies to svd combinations, not to --how {how}")
    if how not in DENSITY_COMBINATIONS:
        if density is not None:
            raise ConfigError(f"--density applies to {', '.join(DENSITY_COMBINATIONS)}, not to --how {how}")
        return None
    density = DEFAULT_DENSITY if density is None else density
    if not 0.0 < density <= 1.0:
        raise ConfigError(f"--density {density} must be in (0, 1]: the fraction of values each adapter keeps")
    return density


def _fold_rslora_scaling(peft_model) -> None:
    """PEFT bakes each parent's scaling into the combined factors and gives the result alpha = r, but keeps
    the first parent's use_rslora, which would scale the result again by sqrt(r). Use plain scaling (1.0)."""
    from peft.tuners.lora import LoraLayer

    config = peft_model.peft_config[COMBINED_ADAPTER]
    if not config.use_rslora:
        return
    config.use_rslora = False
    for module in peft_model.modules():
        if isinstance(module, LoraLayer) and COMBINED_ADAPTER in module.use_rslora:
            module.use_rslora[COMBINED_ADAPTER] = False
            module.set_scale(COMBINED_ADAPTER, 1.0)


def _drop_generated_readme(folder: Path) -> None:
    """PEFT writes a model-card stub that describes the temporary base path; our records say it better."""
    readme = folder / "README.md"
    if readme.is_file():
        readme.unlink()

