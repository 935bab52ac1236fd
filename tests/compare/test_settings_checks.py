"""Each settings warning appears with its condition and disappears without it, and cites its source."""

import pytest

from adaptlab.compare.settings_checks import MethodSettings, settings_warnings, targets_mlp

FULL = MethodSettings("Full FT", low_rank=False, learning_rate=1e-5, trainable_params=134_000_000)
LORA = MethodSettings("LoRA", low_rank=True, learning_rate=2e-4, trainable_params=4_900_000)
GOOD = dict(target_modules=["all-linear"], train_target_tokens=100_000, rows_per_step=16)


def rules(methods=(FULL, LORA), **changes) -> list[str]:
    return [w.rule for w in settings_warnings(list(methods), **(GOOD | changes))]


def test_sound_settings_raise_nothing():
    assert rules() == []


@pytest.mark.parametrize("lora_rate, warned", [(2e-4, False), (5e-5, False), (3e-4, False), (4e-5, True), (4e-4, True), (1e-5, True)])
def test_lora_rate_outside_5_to_30_times_full(lora_rate, warned):
    lora = MethodSettings("LoRA", True, lora_rate, 4_900_000)
    assert ("lora_learning_rate" in rules((FULL, lora))) is warned


def test_rate_ratio_needs_both_methods():
    slow_lora = MethodSettings("LoRA", True, 1e-5, 4_900_000)
    assert rules([slow_lora]) == []


def test_lora_without_mlp_layers():
    assert rules(target_modules=["q_proj", "v_proj"]) == ["lora_not_on_mlp"]
    assert rules(target_modules=["q_proj", "v_proj", "down_proj"]) == []
    assert rules(target_modules=["model.layers.0.mlp.up_proj"]) == []


def test_fewer_lora_parameters_than_target_tokens():
    assert rules(train_target_tokens=5_000_000) == ["lora_capacity"]
    assert rules(train_target_tokens=4_900_000) == []


def test_very_large_effective_batch():
    assert rules(rows_per_step=256) == ["lora_large_batch"]
    assert rules(rows_per_step=255) == []


def test_full_fine_tuning_alone_is_never_warned():
    assert rules([FULL], target_modules=["q_proj"], train_target_tokens=10**12, rows_per_step=4096) == []


def test_every_warning_cites_its_source():
    warnings = settings_warnings(
        [FULL, MethodSettings("QLoRA", True, 1e-3, 10)], ["q_proj"], train_target_tokens=1000, rows_per_step=512
    )
    assert {w.rule for w in warnings} == {"lora_learning_rate", "lora_not_on_mlp", "lora_capacity", "lora_large_batch"}
    assert all("20" in w.source and " et al. " in w.source for w in warnings)
    assert "QLoRA" in next(w.message for w in warnings if w.rule == "lora_capacity")


def test_targets_mlp_reads_names_not_substrings():
    assert targets_mlp(["all-linear"]) and targets_mlp(["gate_proj"]) and targets_mlp(["fc1"])
    assert not targets_mlp(["q_proj", "k_proj", "o_proj"])
