import json

import pytest
import torch
from safetensors.torch import load_file

from adaptlab.adapters.loading import (
    AdapterCompatibilityWarning,
    load_base_with_adapters,
)
from adaptlab.errors import CompatibilityError, ConfigError
from adaptlab.models import load_causal_lm, resolve_model
from tests.adapters.helpers import logits, max_diff


def manual_sum(base_path, adapters_and_weights) -> torch.nn.Module:
    """The base with W += weight * (alpha / r) * B @ A written into it by hand, from the adapter files."""
    model = load_causal_lm(base_path)
    with torch.no_grad():
        for adapter, weight in adapters_and_weights:
            config = json.loads((adapter / "adapter_config.json").read_text())
            scaling = config["lora_alpha"] / config["r"]
            tensors = load_file(adapter / "adapter_model.safetensors")
            for key, a in tensors.items():
                if ".lora_A." not in key:
                    continue
                b = tensors[key.replace(".lora_A.", ".lora_B.")]
                module_name = key.removeprefix("base_model.model.").split(".lora_A.")[0]
                model.get_submodule(module_name).weight += weight * scaling * (b @ a)
    return model


def test_stacked_adapters_equal_the_weighted_sum_of_their_deltas(make_adapter, tiny_model):
    a = make_adapter("a", seed=1, targets=["q_proj", "v_proj"])
    b = make_adapter("b", seed=2, rank=8, targets=["v_proj", "up_proj"])
    stacked, _ = load_base_with_adapters(tiny_model, [a, b], [0.5, 2.0])
    expected = manual_sum(tiny_model.path, [(a, 0.5), (b, 2.0)])
    base = load_causal_lm(tiny_model.path)
    assert max_diff(logits(stacked), logits(base)) > 1e-2
    assert max_diff(logits(stacked), logits(expected)) < 1e-5


def test_adapter_weight_of_zero_gives_the_base_back(make_adapter, tiny_model):
    a = make_adapter("a", seed=1)
    silenced, _ = load_base_with_adapters(tiny_model, [a], [0.0])
    assert max_diff(logits(silenced), logits(load_causal_lm(tiny_model.path))) < 1e-6


def test_base_is_taken_from_the_adapter_metadata(make_adapter, tiny_model):
    a = make_adapter("a", seed=1)
    by_metadata, _ = load_base_with_adapters(None, [a])
    explicit, _ = load_base_with_adapters(tiny_model, [a])
    assert max_diff(logits(by_metadata), logits(explicit)) == 0.0


def test_wrong_base_is_refused_unless_overridden(make_adapter, tiny_model, other_base):
    a = make_adapter("a", seed=1)
    with pytest.raises(CompatibilityError) as refused:
        load_base_with_adapters(other_base, [a])
    assert tiny_model.model_id in str(refused.value) and other_base.model_id in str(refused.value)
    assert tiny_model.weights_sha256[:16] in str(refused.value) and other_base.weights_sha256[:16] in str(refused.value)

    with pytest.warns(AdapterCompatibilityWarning, match="--allow-base-mismatch"):
        model, _ = load_base_with_adapters(other_base, [a], allow_base_mismatch=True)
    assert max_diff(logits(model), logits(load_causal_lm(other_base.path))) > 1e-3


def test_plain_peft_folder_loads_with_a_warning(make_adapter, tiny_model):
    plain = make_adapter("plain", seed=1, metadata=False)
    with pytest.warns(AdapterCompatibilityWarning, match="cannot be checked"):
        model, _ = load_base_with_adapters(tiny_model, [plain])
    assert max_diff(logits(model), logits(load_causal_lm(tiny_model.path))) > 1e-3


def test_target_module_missing_from_the_base_is_an_error(make_adapter, tiny_model):
    a = make_adapter("a", seed=1)
    config_file = a / "adapter_config.json"
    config = json.loads(config_file.read_text())
    config_file.write_text(json.dumps({**config, "target_modules": ["q_proj", "c_attn"]}))
    with pytest.raises(CompatibilityError, match="c_attn"):
        load_base_with_adapters(tiny_model, [a])


def test_adapter_for_a_deeper_model_is_an_error_not_a_partial_load(make_adapter, tiny_model, tmp_path):
    from transformers import LlamaForCausalLM

    deeper_config = load_causal_lm(tiny_model.path).config
    deeper_config.num_hidden_layers = 3
    LlamaForCausalLM(deeper_config).save_pretrained(tmp_path / "deeper")
    deeper = resolve_model(str(tmp_path / "deeper"))
    adapter = make_adapter("for-deeper", seed=1, base=deeper, metadata=False)
    with pytest.warns(AdapterCompatibilityWarning), pytest.raises(CompatibilityError, match="does not have"):
        load_base_with_adapters(tiny_model, [adapter])


def test_stacking_refuses_dora_and_wrong_weight_counts(make_adapter, tiny_model):
    lora = make_adapter("lora", seed=1)
    dora = make_adapter("dora", seed=2, dora=True)
    with pytest.raises(CompatibilityError, match="DoRA"):
        load_base_with_adapters(tiny_model, [lora, dora])
    with pytest.raises(ConfigError, match="one weight per adapter"):
        load_base_with_adapters(tiny_model, [lora], [0.5, 0.5])


def test_full_module_copies_cannot_be_weighted(make_adapter, tiny_model):
    with_copy = make_adapter("copy", seed=1, modules_to_save=["lm_head"])
    with pytest.raises(CompatibilityError, match="modules_to_save"):
        load_base_with_adapters(tiny_model, [with_copy], [0.5])
