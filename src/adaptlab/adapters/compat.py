"""Compatibility rules between adapters and base models, as pure functions over names and hashes.

They fail loudly: a wrong base, a target module the base lacks, or weights that do not fit the
modules are errors, never a silently ignored adapter.
"""

import re
from collections.abc import Iterable, Mapping

from adaptlab.adapters.files import AdapterFolder
from adaptlab.adapters.metadata import ADAPTER_METADATA_FILE
from adaptlab.errors import CompatibilityError
from adaptlab.models import ResolvedModel

HASH_CHARS_SHOWN = 16
NAMES_SHOWN = 5

# Combinations that average A and B matrices separately: they need equal ranks and the same modules.
FACTOR_WISE_COMBINATIONS = ("linear", "ties", "dare_linear", "dare_ties", "magnitude_prune")


def check_base(folder: AdapterFolder, base: ResolvedModel, *, allow_mismatch: bool) -> str | None:
    """Raise if the adapter was trained on other weights; return a warning when that cannot be checked or is overridden."""
    metadata = folder.metadata
    if metadata is None:
        named = folder.config.get("base_model_name_or_path")
        return (
            f"{folder.path}: no {ADAPTER_METADATA_FILE} (not written by adaptlab), so it cannot be checked "
            f"against {base.model_id}; its adapter_config.json names base {named!r}"
        )
    if metadata.base_weights_sha256 == base.weights_sha256:
        return None
    message = (
        f"{folder.path}: adapter was trained on {metadata.base_model_id} "
        f"(weights sha256 {metadata.base_weights_sha256[:HASH_CHARS_SHOWN]}…), but the base given is "
        f"{base.model_id} (weights sha256 {base.weights_sha256[:HASH_CHARS_SHOWN]}…)"
    )
    if allow_mismatch:
        return f"{message}; loading anyway because --allow-base-mismatch was given"
    raise CompatibilityError(
        f"{message}. Use --model {metadata.base_model_spec}, or pass --allow-base-mismatch if you know the weights fit."
    )


def check_mergeable(folder: AdapterFolder) -> None:
    """Refuse to fold into the base an adapter whose method has no weight update (prompt/prefix tuning)."""
    refusal = folder.fine_tuning.merge_refusal
    if refusal:
        raise CompatibilityError(f"{folder.path}: a {folder.method} adapter cannot be merged: {refusal}")


def unmatched_target_modules(target_modules: str | list[str] | None, module_names: Iterable[str]) -> list[str]:
    """Targets that match no module of the base, using PEFT's rules (suffix match for lists, full regex match for a string)."""
    names = list(module_names)
    if target_modules is None or target_modules == "all-linear":
        return []
    if isinstance(target_modules, str):
        return [] if any(re.fullmatch(target_modules, name) for name in names) else [target_modules]
    return [t for t in target_modules if not any(name == t or name.endswith(f".{t}") for name in names)]


def check_target_modules(folder: AdapterFolder, base_model_id: str, module_names: Iterable[str]) -> None:
    missing = unmatched_target_modules(folder.config.get("target_modules"), module_names)
    if missing:
        raise CompatibilityError(
            f"{folder.path}: target modules {_shown(missing)} do not exist in {base_model_id}; "
            "the adapter was made for a different architecture, so loading it would silently do nothing there"
        )


def check_weight_names(folder: AdapterFolder, base_model_id: str, file_names: set[str], expected_names: set[str]) -> None:
    """The weights file must hold exactly the tensors PEFT expects for this adapter on this base."""
    unexpected = sorted(file_names - expected_names)
    missing = sorted(expected_names - file_names)
    if unexpected:
        raise CompatibilityError(
            f"{folder.weights_file}: {len(unexpected)} tensors belong to modules that {base_model_id} does not have "
            f"(e.g. {_shown(unexpected)}); the adapter was made for a different model"
        )
    if missing:
        raise CompatibilityError(
            f"{folder.weights_file}: {len(missing)} adapter tensors are missing (e.g. {_shown(missing)}); "
            "the file is incomplete or was made for a different model"
        )


def check_combinable_configs(folders: list[AdapterFolder]) -> None:
    """Refuse, from the configs alone, adapters PEFT's weighted combination would get wrong."""
    for folder in folders:
        if folder.config.get("use_dora"):
            raise CompatibilityError(
                f"{folder.path}: DoRA adapters cannot be combined (PEFT's weighted combination drops their magnitude "
                "vectors); merge it with `adaptlab merge` and apply the other adapters to the merged model"
            )
        if folder.config.get("modules_to_save"):
            raise CompatibilityError(
                f"{folder.path}: carries full copies of {folder.config['modules_to_save']} (modules_to_save), which a "
                "weighted combination cannot blend; merge it with `adaptlab merge` instead"
            )
    target_kinds = {type(folder.config.get("target_modules")).__name__ for folder in folders}
    if len(target_kinds) > 1:
        raise CompatibilityError(
            "these adapters give target_modules in different forms (a regex string and a list), which PEFT cannot "
            "combine; re-save them with explicit module lists"
        )


def check_factor_wise_combinable(how: str, wrapped_modules: Mapping[str, set[str]], ranks: Mapping[str, set[int]]) -> None:
    """Combinations that average A and B separately need equal ranks and the same adapted modules.

    Both mappings go from each adapter folder (as str, in order) to the base modules it adapts and
    the ranks it uses there.
    """
    if how not in FACTOR_WISE_COMBINATIONS:
        return
    first, *others = list(ranks)
    for other in others:
        if ranks[other] != ranks[first]:
            raise CompatibilityError(
                f"--how {how} averages the A and B matrices, so all adapters need the same rank: {first} has "
                f"r={sorted(ranks[first])}, {other} has r={sorted(ranks[other])}; use --how cat or --how svd"
            )
        if wrapped_modules[other] != wrapped_modules[first]:
            differing = sorted(wrapped_modules[other] ^ wrapped_modules[first])
            raise CompatibilityError(
                f"--how {how} averages the A and B matrices module by module, so all adapters must adapt the same "
                f"modules, but {first} and {other} differ on {_shown(differing)}; use --how cat or --how svd"
            )


def _shown(names: list[str]) -> str:
    more = f" and {len(names) - NAMES_SHOWN} more" if len(names) > NAMES_SHOWN else ""
    return ", ".join(names[:NAMES_SHOWN]) + more
