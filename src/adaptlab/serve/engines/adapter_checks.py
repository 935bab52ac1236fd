"""The one check every engine runs before an adapter serves requests: trained on this base, targeting
modules the base has, LoRA that applies per request row. An engine that runs elsewhere (vLLM) runs it
in the gateway first, on the base's module shapes, so a bad adapter is refused with the same error."""

import logging
from collections.abc import Mapping
from pathlib import Path

from adaptlab.adapters import compat
from adaptlab.adapters.files import open_adapter_folder
from adaptlab.errors import AdaptlabError
from adaptlab.models import ResolvedModel
from adaptlab.serve.engines.batching.mixed_lora import LoraAdapter, read_lora_adapter

log = logging.getLogger(__name__)


def checked_lora_adapter(path: Path, version_ref: str, base: ResolvedModel, modules: Mapping[str, object]) -> LoraAdapter:
    """The LoRA weights of the verified copy at `path`, keyed by the base's module names (`modules`: name -> module).
    Errors name the version, never where the server keeps its checkouts."""
    folder = open_adapter_folder(path)
    try:
        warning = compat.check_base(folder, base, allow_mismatch=False)
        if warning:
            log.warning(warning)
        compat.check_target_modules(folder, base.model_id, modules)
        return read_lora_adapter(folder, modules)
    except AdaptlabError as exc:
        raise type(exc)(f"{version_ref}: " + str(exc).replace(f"{folder.path}: ", "").replace(str(folder.path), version_ref)) from exc
