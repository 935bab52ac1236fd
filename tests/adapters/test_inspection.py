from peft import PeftModel

from adaptlab.adapters.inspection import inspect_adapter
from adaptlab.models import load_causal_lm


def trainable_params_by_peft(base_path, adapter) -> int:
    model = PeftModel.from_pretrained(load_causal_lm(base_path), adapter, is_trainable=True)
    trainable, _ = model.get_nb_trainable_parameters()
    return trainable


def test_reports_shape_size_base_and_params(make_adapter, tiny_model):
    adapter = make_adapter("a", seed=1, rank=4, alpha=16, targets=["q_proj", "v_proj"], rslora=True)
    info = inspect_adapter(adapter)

    assert (info.rank, info.alpha, info.use_rslora, info.use_dora) == (4, 16.0, True, False)
    assert info.scaling == 16 / 2
    assert info.target_module_kinds == ["q_proj", "v_proj"]
    assert info.base_model_id == tiny_model.model_id and info.base_weights_sha256 == tiny_model.weights_sha256
    assert info.trainable_params == info.lora_params == trainable_params_by_peft(tiny_model.path, adapter)
    assert info.full_copy_params == 0 and info.full_copy_tensors == []
    assert info.size_on_disk_bytes >= info.weights_bytes == (adapter / "adapter_model.safetensors").stat().st_size
    assert info.all_lora_b_zero is False
    assert info.warnings == []


def test_flags_whole_lm_head_copies(make_adapter, tiny_model):
    adapter = make_adapter("copy", seed=1, modules_to_save=["lm_head"])
    info = inspect_adapter(adapter)

    assert info.modules_to_save == ["lm_head"]
    assert info.full_copy_tensors == ["base_model.model.lm_head.weight"]
    vocab, hidden = load_causal_lm(tiny_model.path).lm_head.weight.shape
    assert info.full_copy_params == vocab * hidden
    assert info.trainable_params == info.lora_params + info.full_copy_params
    assert any("embedding / lm_head copies" in w for w in info.warnings)
    assert any("tied" in w for w in info.warnings)


def test_flags_untrained_and_foreign_adapters(make_adapter):
    info = inspect_adapter(make_adapter("untrained", effect=False, metadata=False))
    assert info.all_lora_b_zero is True
    assert any("no effect" in w for w in info.warnings)
    assert info.base_weights_sha256 is None and any("cannot be checked" in w for w in info.warnings)


def test_pickle_weights_are_only_counted_with_the_flag(make_adapter):
    adapter = make_adapter("pickled", seed=1, safe_serialization=False)
    unread = inspect_adapter(adapter)
    assert unread.weights_format == "pickle" and unread.trainable_params is None
    assert any("--allow-pickle" in w for w in unread.warnings)
    read = inspect_adapter(adapter, allow_pickle=True)
    assert read.trainable_params == inspect_adapter(make_adapter("safe", seed=1)).trainable_params
