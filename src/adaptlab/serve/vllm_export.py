"""`adaptlab registry export-vllm`: the registry's servable versions for a static vLLM deployment. Every
approved or aliased LoRA version trained on the base (and passing the check the gateway runs before
loading one) is copied from its verified checkout into one folder, with the zero adapter base requests
go through, and the `--lora-modules` arguments that name them as the gateway does (tenant/name@vN)."""

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from adaptlab.errors import AdaptlabError
from adaptlab.models import ResolvedModel
from adaptlab.registry import Principal, Registry, VersionRecord
from adaptlab.serve.engines.adapter_checks import checked_lora_adapter
from adaptlab.serve.engines.zero_adapter import ZERO_ADAPTER_NAME, base_module_shapes, write_zero_adapter
from adaptlab.serve.resolution import servable_refusal

LORA_MODULES_FILE = "lora-modules.txt"
ZERO_ADAPTER_FOLDER = "zero-adapter"


@dataclass(frozen=True)
class VllmExport:
    modules: dict[str, Path]  # lora name (tenant/name@vN, or the zero adapter's) -> folder
    skipped: dict[str, str]  # version ref -> why it is not served through vLLM


def lora_module_argument(name: str, folder: Path, base_model_name: str) -> str:
    """One `--lora-modules` value, in vLLM's JSON form (names with `/` and `@` need no escaping there)."""
    return json.dumps({"name": name, "path": str(folder.resolve()), "base_model_name": base_model_name})


def export_for_vllm(registry: Registry, principal: Principal, base: ResolvedModel, out_dir: Path, *, tenant: str | None) -> VllmExport:
    """Copy what vLLM may serve for `base` into `out_dir/<tenant>/<name>/vN` (verified copies) and write the zero adapter."""
    module_shapes = base_module_shapes(base.path)
    modules = {ZERO_ADAPTER_NAME: write_zero_adapter(out_dir / ZERO_ADAPTER_FOLDER, base, module_shapes)}
    skipped = {}
    for record in _versions(registry, principal, tenant):
        if refusal := servable_refusal(record, base, allow_unapproved=False):
            skipped[record.ref] = str(refusal)
            continue
        try:  # a version whose files are lost or fail the check is skipped with the reason; the others are still exported
            checkout = registry.checkout(principal, record.ref).local_path
            checked_lora_adapter(checkout, record.ref, base, module_shapes)
        except AdaptlabError as exc:
            skipped[record.ref] = str(exc)
            continue
        folder = out_dir / record.tenant / record.name / f"v{record.version}"
        shutil.rmtree(folder, ignore_errors=True)
        shutil.copytree(checkout, folder)
        modules[record.ref] = folder
    return VllmExport(modules, skipped)


def _versions(registry: Registry, principal: Principal, tenant: str | None) -> list[VersionRecord]:
    return [
        record
        for summary in registry.list_models(principal, tenant)
        for record in registry.list_versions(principal, summary.name, tenant=summary.tenant)
    ]
