"""Merge one adapter into its base and write a standalone Hugging Face model folder.

The merged folder is verified by reloading it from disk and comparing its logits with the unmerged
adapter's; a merge that changed no weight is an error, never a silently written copy of the base.
Adapters trained on a 4-bit base (QLoRA; `quantized_base` in their adaptlab_adapter.json) merge into
the full-precision base by default (`into="full"`) or into the dequantized NF4 base (`into="dequantized"`);
either way the logit difference against the adapter on its 4-bit training base is measured and recorded.
"""

from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from pydantic import BaseModel, Field

from adaptlab import __version__, atomic
from adaptlab.adapters import compat
from adaptlab.adapters.choices import MergeInto
from adaptlab.adapters.files import open_adapter_folder
from adaptlab.adapters.loading import (
    attach_adapters,
    load_base_with_adapters,
    resolve_base,
    tokenizer_dir,
)
from adaptlab.adapters.outputs import check_output_folder
from adaptlab.adapters.probe import (
    max_abs_difference,
    max_abs_value,
    probe_inputs,
    probe_logits,
)
from adaptlab.adapters.sidecar_json import read_record, write_record
from adaptlab.errors import ArtifactError
from adaptlab.methods.base import trained_head
from adaptlab.models import ResolvedModel, load_model_for_task, load_tokenizer

MERGE_RECORD_FILE = "adaptlab_merge.json"
DEFAULT_LOGIT_TOLERANCE = 1e-3
NO_EFFECT_RELATIVE_CHANGE = 1e-6


class LogitComparison(BaseModel):
    compared_with: str = Field(description="what the merged model's logits were compared against")
    prompts: int
    max_abs_logit_diff: float
    max_abs_logit: float = Field(description="largest |logit| seen, to put the difference in scale")
    tolerance: float | None = Field(default=None, description="the check's limit; None when only measured")


class MergeRecord(BaseModel):
    """`adaptlab_merge.json`: what was merged into what, and how close the result is to the adapter."""

    adapter_path: str
    adapter_method: str
    base_model_spec: str
    base_model_id: str
    base_weights_sha256: str = Field(description="hash of the full-precision base folder the merge started from")
    merged_into: MergeInto = Field(description="full: the full-precision base; dequantized: the NF4 base, dequantized to fp32")
    max_abs_weight_change: float = Field(description="largest change the merge made to any base weight")
    verification: LogitComparison | None = Field(description="merged folder (reloaded) vs the unmerged adapter on the same base")
    vs_4bit_training_base: LogitComparison | None = Field(
        description="merged folder vs the adapter on its NF4 base (QLoRA adapters, or --into dequantized)"
    )
    adaptlab_version: str
    created_at: datetime


def merge_adapter(
    adapter: Path,
    out: Path,
    *,
    model: ResolvedModel | str | None = None,
    into: MergeInto = "full",
    verify: bool = True,
    tolerance: float = DEFAULT_LOGIT_TOLERANCE,
    allow_pickle: bool = False,
    allow_base_mismatch: bool = False,
    overwrite: bool = False,
    progress: Callable[[str], None] = lambda step: None,
) -> MergeRecord:
    """Merge `adapter` into its base (or `model`) and write the model folder `out`; returns its record."""
    folder = open_adapter_folder(adapter, allow_pickle=allow_pickle)
    compat.check_mergeable(folder)
    check_output_folder(out, [adapter], overwrite=overwrite)
    progress("resolving base model")
    base = resolve_base(model, [folder])
    check_output_folder(out, [adapter, base.path], overwrite=overwrite)
    progress(f"loading {base.model_id} ({'dequantized NF4' if into == 'dequantized' else 'full precision'})")
    head = trained_head(Path(adapter))  # a classifier's adapter merges into the base with its head
    peft_model = attach_adapters(_merge_base(base, into, allow_pickle, head), base, [folder], allow_base_mismatch=allow_base_mismatch)
    tokenizer = load_tokenizer(tokenizer_dir(base, [folder]))
    inputs = probe_inputs(tokenizer)
    unmerged_logits = probe_logits(peft_model, inputs) if verify else None
    progress("merging")
    before = _adapted_weights(peft_model)
    try:
        merged = peft_model.merge_and_unload(safe_merge=True)
    except ValueError as exc:  # PEFT's safe_merge found NaNs
        raise ArtifactError(f"{adapter}: merging produced invalid weights ({exc}); the adapter is broken") from exc
    weight_change = _check_has_effect(adapter, before, merged)
    del before
    with atomic.staging_dir(Path(out)) as staged:
        progress(f"writing {out}")
        merged.save_pretrained(staged)
        tokenizer.save_pretrained(staged)
        del merged, peft_model
        verification = vs_4bit = None
        if verify:
            progress("verifying: reloading the merged folder")
            merged_logits = probe_logits(load_model_for_task(staged, head[0]), inputs)
            verification = _verified(adapter, merged_logits, unmerged_logits, tolerance)
            trained_on_4bit = folder.metadata is not None and folder.metadata.quantized_base
            if trained_on_4bit or into == "dequantized":
                progress("measuring against the adapter on its 4-bit training base")
                vs_4bit = _compare_with_4bit_base(base, adapter, merged_logits, inputs, allow_pickle, allow_base_mismatch)
        record = MergeRecord(
            adapter_path=str(Path(adapter).resolve()),
            adapter_method=folder.method,
            base_model_spec=base.spec,
            base_model_id=base.model_id,
            base_weights_sha256=base.weights_sha256,
            merged_into=into,
            max_abs_weight_change=weight_change,
            verification=verification,
            vs_4bit_training_base=vs_4bit,
            adaptlab_version=__version__,
            created_at=datetime.now(timezone.utc),
        )
        write_record(staged, MERGE_RECORD_FILE, record)
    return record


def read_merge_record(model_dir: Path) -> MergeRecord | None:
    return read_record(model_dir, MERGE_RECORD_FILE, MergeRecord)


def _merge_base(base: ResolvedModel, into: MergeInto, allow_pickle: bool, head: tuple[str, list[str]]):
    if into == "full":
        return load_model_for_task(base.path, *head, allow_pickle=allow_pickle)
    return load_model_for_task(base.path, *head, load_in_4bit=True, allow_pickle=allow_pickle).dequantize()


def _adapted_weights(peft_model) -> dict:
    """Copies of the base weights the merge will change: adapter-wrapped layers (any PEFT tuner) and modules_to_save originals."""
    from peft.tuners.tuners_utils import BaseTunerLayer
    from peft.utils import ModulesToSaveWrapper

    copies = {}
    for name, module in peft_model.base_model.model.named_modules():
        if isinstance(module, BaseTunerLayer):
            copies[name] = module.get_base_layer().weight.detach().clone()
        elif isinstance(module, ModulesToSaveWrapper) and hasattr(module.original_module, "weight"):
            copies[name] = module.original_module.weight.detach().clone()
    return copies


def _check_has_effect(adapter: Path, before: dict, merged) -> float:
    """The largest absolute weight change; an error when no weight moved beyond float rounding."""
    largest_change = 0.0
    has_effect = False
    for name, weight in before.items():
        change = float((merged.get_submodule(name).weight.detach() - weight).abs().max())
        scale = max(float(weight.abs().max()), 1e-12)
        largest_change = max(largest_change, change)
        has_effect = has_effect or change / scale > NO_EFFECT_RELATIVE_CHANGE
    if not has_effect:
        raise ArtifactError(
            f"{adapter}: adapter had no effect: merging it leaves every base weight unchanged (lora_B is zero?), "
            "so the result would be a copy of the base model; nothing was written"
        )
    return largest_change


def _verified(adapter: Path, merged_logits: list, unmerged_logits: list, tolerance: float) -> LogitComparison:
    diff = max_abs_difference(merged_logits, unmerged_logits)
    comparison = LogitComparison(
        compared_with="the unmerged adapter on the same base",
        prompts=len(merged_logits),
        max_abs_logit_diff=diff,
        max_abs_logit=max_abs_value(unmerged_logits),
        tolerance=tolerance,
    )
    if not diff <= tolerance:
        raise ArtifactError(
            f"{adapter}: the merged model's logits differ from the unmerged adapter's by {diff:.3g} "
            f"(tolerance {tolerance:g}); nothing was written. Re-run with --no-verify only if you accept that."
        )
    return comparison


def _compare_with_4bit_base(base, adapter, merged_logits, inputs, allow_pickle, allow_base_mismatch) -> LogitComparison:
    quantized, _ = load_base_with_adapters(
        base, [adapter], allow_pickle=allow_pickle, allow_base_mismatch=allow_base_mismatch, load_in_4bit=True
    )
    reference = probe_logits(quantized, inputs)
    return LogitComparison(
        compared_with="the adapter on its NF4 (4-bit) training base",
        prompts=len(inputs),
        max_abs_logit_diff=max_abs_difference(merged_logits, reference),
        max_abs_logit=max_abs_value(reference),
    )
