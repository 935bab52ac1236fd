from pathlib import Path

import pytest

from adaptlab.adapters.compat import (
    check_base,
    check_combinable_configs,
    check_factor_wise_combinable,
    unmatched_target_modules,
)
from adaptlab.adapters.files import AdapterFolder
from adaptlab.adapters.metadata import AdapterMetadata
from adaptlab.errors import CompatibilityError
from adaptlab.models import ResolvedModel

MODULES = ["", "model", "model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.v_proj", "model.layers.0.mlp.up_proj", "lm_head"]
BASE = ResolvedModel(spec="builtin:tiny", model_id="adaptlab/tiny-llama", path=Path("/base"), weights_sha256="a" * 64)


def folder(name: str = "ad", *, sha: str | None = "a" * 64, **config) -> AdapterFolder:
    metadata = None
    if sha is not None:
        metadata = AdapterMetadata(base_model_spec="builtin:tiny", base_model_id="adaptlab/tiny-llama",
                                   base_weights_sha256=sha, method="lora", adaptlab_version="0")
    return AdapterFolder(path=Path(name), config={"peft_type": "LORA", **config},
                         weights_file=Path(name) / "adapter_model.safetensors", metadata=metadata)


@pytest.mark.parametrize(
    "targets, unmatched",
    [
        (["q_proj", "v_proj"], []),
        (["q_proj", "c_attn"], ["c_attn"]),
        (["model.layers.0.mlp.up_proj"], []),
        (["layers.0.self_attn.q_proj"], []),
        (["self_attn.q"], ["self_attn.q"]),
        (r".*\.(q|v)_proj", []),
        (r".*\.c_attn", [r".*\.c_attn"]),
        ("all-linear", []),
    ],
)
def test_target_modules_match_like_peft(targets, unmatched):
    assert unmatched_target_modules(targets, MODULES) == unmatched


def test_same_hash_passes_silently():
    assert check_base(folder(), BASE, allow_mismatch=False) is None


def test_wrong_base_names_both_models_and_hashes():
    other = ResolvedModel(spec="/m/other", model_id="other-model", path=Path("/m/other"), weights_sha256="b" * 64)
    with pytest.raises(CompatibilityError) as refused:
        check_base(folder(), other, allow_mismatch=False)
    message = str(refused.value)
    assert "adaptlab/tiny-llama" in message and "other-model" in message
    assert "a" * 16 in message and "b" * 16 in message
    assert "--allow-base-mismatch" in message

    warning = check_base(folder(), other, allow_mismatch=True)
    assert "other-model" in warning and "--allow-base-mismatch" in warning


def test_plain_peft_folder_gets_a_warning_not_an_error():
    warning = check_base(folder(sha=None, base_model_name_or_path="someone/model"), BASE, allow_mismatch=False)
    assert "cannot be checked" in warning and "someone/model" in warning


def test_factor_wise_combinations_need_equal_ranks_and_modules():
    same_modules = {"a": {"x.q_proj"}, "b": {"x.q_proj"}}
    with pytest.raises(CompatibilityError, match="same rank"):
        check_factor_wise_combinable("linear", same_modules, {"a": {4}, "b": {8}})
    check_factor_wise_combinable("cat", same_modules, {"a": {4}, "b": {8}})
    with pytest.raises(CompatibilityError, match="same modules"):
        check_factor_wise_combinable("ties", {"a": {"x.q_proj"}, "b": {"x.v_proj"}}, {"a": {4}, "b": {4}})
    check_factor_wise_combinable("svd", {"a": {"x.q_proj"}, "b": {"x.v_proj"}}, {"a": {4}, "b": {4}})


def test_dora_copies_and_mixed_target_forms_cannot_be_combined():
    plain = folder("a", target_modules=["q_proj"])
    check_combinable_configs([plain, folder("b", target_modules=["v_proj"])])
    with pytest.raises(CompatibilityError, match="DoRA"):
        check_combinable_configs([plain, folder("b", target_modules=["q_proj"], use_dora=True)])
    with pytest.raises(CompatibilityError, match="modules_to_save"):
        check_combinable_configs([plain, folder("b", target_modules=["q_proj"], modules_to_save=["lm_head"])])
    with pytest.raises(CompatibilityError, match="different forms"):
        check_combinable_configs([plain, folder("b", target_modules=".*q_proj")])
