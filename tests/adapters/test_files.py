import json

import pytest

from adaptlab.adapters.files import open_adapter_folder, read_adapter_tensors
from adaptlab.adapters.loading import load_base_with_adapters
from adaptlab.errors import ArtifactError, CompatibilityError
from tests.adapters.helpers import logits, max_diff


def test_pickle_only_adapter_is_refused_without_the_flag(make_adapter, tiny_model):
    adapter = make_adapter("pickled", safe_serialization=False)
    assert (adapter / "adapter_model.bin").is_file() and not (adapter / "adapter_model.safetensors").exists()

    with pytest.raises(ArtifactError, match="--allow-pickle") as refused:
        load_base_with_adapters(tiny_model, [adapter])
    assert "adapter_model.bin" in str(refused.value)

    model, _ = load_base_with_adapters(tiny_model, [adapter], allow_pickle=True)
    base, _ = load_base_with_adapters(tiny_model, [])
    assert max_diff(logits(model), logits(base)) > 1e-3


def test_pickle_adapter_loads_like_its_safetensors_twin(make_adapter, tiny_model):
    pickled = make_adapter("pickled", seed=3, safe_serialization=False)
    safe = make_adapter("safe", seed=3)
    from_pickle, _ = load_base_with_adapters(tiny_model, [pickled], allow_pickle=True)
    from_safetensors, _ = load_base_with_adapters(tiny_model, [safe])
    assert max_diff(logits(from_pickle), logits(from_safetensors)) < 1e-6


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_corrupt_safetensors_is_a_clear_error_naming_the_file(make_adapter, tiny_model, damage):
    adapter = make_adapter("broken")
    weights = adapter / "adapter_model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2] if damage == "truncate" else b"\x00\x01garbage" * 10)

    with pytest.raises(ArtifactError, match="corrupt or truncated") as error:
        load_base_with_adapters(tiny_model, [adapter])
    assert str(weights) in str(error.value)
    with pytest.raises(ArtifactError, match="corrupt or truncated"):
        read_adapter_tensors(weights)


def test_a_model_folder_is_not_mistaken_for_an_adapter(tiny_model):
    with pytest.raises(ArtifactError, match="--model"):
        open_adapter_folder(tiny_model.path)


def test_missing_folder_and_missing_weights_are_reported(make_adapter, tmp_path):
    with pytest.raises(ArtifactError, match="no such adapter folder"):
        open_adapter_folder(tmp_path / "nowhere")
    adapter = make_adapter("no-weights")
    (adapter / "adapter_model.safetensors").unlink()
    with pytest.raises(ArtifactError, match="no adapter weights"):
        open_adapter_folder(adapter)


def test_unreadable_config_and_other_peft_types_are_refused(make_adapter):
    adapter = make_adapter("odd")
    config_file = adapter / "adapter_config.json"
    config = json.loads(config_file.read_text())
    config_file.write_text(json.dumps({**config, "peft_type": "BOFT"}))
    with pytest.raises(CompatibilityError, match="peft_type is 'BOFT'; adaptlab handles the PEFT tuners it trains: IA3, LOHA"):
        open_adapter_folder(adapter)
    config_file.write_text("{not json")
    with pytest.raises(ArtifactError, match="adapter_config.json"):
        open_adapter_folder(adapter)
