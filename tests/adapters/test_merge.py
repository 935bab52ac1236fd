import json

import pytest
from peft import PeftModel

from adaptlab.adapters.merge import (
    DEFAULT_LOGIT_TOLERANCE,
    MERGE_RECORD_FILE,
    merge_adapter,
    read_merge_record,
)
from adaptlab.adapters.metadata import ADAPTER_METADATA_FILE, read_adapter_metadata
from adaptlab.errors import ArtifactError, ConfigError
from adaptlab.models import load_causal_lm, load_tokenizer
from tests.adapters.helpers import logits, max_diff


def unmerged_reference(base_path, adapter, *, load_in_4bit=False):
    """The adapter on its base through PEFT alone, as a PEFT user would load it."""
    return PeftModel.from_pretrained(load_causal_lm(base_path, load_in_4bit=load_in_4bit), adapter).eval()


@pytest.mark.parametrize("method", ["lora", "dora"])
def test_merged_model_equals_the_unmerged_adapter(make_adapter, tiny_model, tmp_path, method):
    adapter = make_adapter(method, seed=1, dora=method == "dora", targets="all-linear")
    record = merge_adapter(adapter, tmp_path / "merged")

    merged = load_causal_lm(tmp_path / "merged")
    reference = unmerged_reference(tiny_model.path, adapter)
    assert max_diff(logits(merged), logits(reference)) < 1e-4
    assert max_diff(logits(merged), logits(load_causal_lm(tiny_model.path))) > 1e-2
    assert record.verification.max_abs_logit_diff <= DEFAULT_LOGIT_TOLERANCE
    assert record.adapter_method == method and record.merged_into == "full" and record.vs_4bit_training_base is None
    assert read_merge_record(tmp_path / "merged") == record
    assert not (tmp_path / "merged" / "adapter_config.json").exists()
    assert list((tmp_path / "merged").glob("*.safetensors")) and not list((tmp_path / "merged").glob("*.bin"))
    assert load_tokenizer(tmp_path / "merged").chat_template


def test_qlora_merges_into_the_full_precision_base_by_default(make_adapter, tiny_model, tmp_path):
    adapter = make_adapter("qlora", seed=2, qlora=True, targets="all-linear")
    record = merge_adapter(adapter, tmp_path / "merged")

    assert record.merged_into == "full" and record.adapter_method == "qlora"
    merged = load_causal_lm(tmp_path / "merged")
    on_full_base = unmerged_reference(tiny_model.path, adapter)
    on_4bit_base = unmerged_reference(tiny_model.path, adapter, load_in_4bit=True)
    assert max_diff(logits(merged), logits(on_full_base)) < 1e-4
    measured = record.vs_4bit_training_base
    assert measured is not None and measured.tolerance is None
    # The full-precision base is not the NF4 base the adapter was trained on: the record says by how much.
    assert measured.max_abs_logit_diff > 1e-3
    assert max_diff(logits(merged), logits(on_4bit_base)) > 1e-3


def test_the_recorded_4bit_base_not_the_method_name_decides_the_4bit_measurement(make_adapter, tmp_path):
    adapter = make_adapter("renamed", seed=2, qlora=True, targets="all-linear")
    metadata_file = adapter / ADAPTER_METADATA_FILE
    metadata_file.write_text(json.dumps(json.loads(metadata_file.read_text()) | {"method": "combine:linear"}))
    assert merge_adapter(adapter, tmp_path / "merged").vs_4bit_training_base is not None


def test_metadata_written_before_the_flag_existed_marks_qlora_as_trained_on_4bit(make_adapter):
    adapter = make_adapter("old-qlora", seed=2, qlora=True)
    metadata_file = adapter / ADAPTER_METADATA_FILE
    legacy = {key: value for key, value in json.loads(metadata_file.read_text()).items() if key != "quantized_base"}
    metadata_file.write_text(json.dumps(legacy))
    assert read_adapter_metadata(adapter).quantized_base
    metadata_file.write_text(json.dumps(legacy | {"method": "lora"}))
    assert not read_adapter_metadata(adapter).quantized_base


def test_qlora_into_the_dequantized_base_is_closer_to_the_4bit_training_base(make_adapter, tiny_model, tmp_path):
    adapter = make_adapter("qlora", seed=2, qlora=True, targets="all-linear")
    into_full = merge_adapter(adapter, tmp_path / "full")
    into_dequantized = merge_adapter(adapter, tmp_path / "dequantized", into="dequantized")

    assert into_dequantized.merged_into == "dequantized"
    assert into_dequantized.verification.max_abs_logit_diff <= DEFAULT_LOGIT_TOLERANCE
    # What is left against the 4-bit base is the bitsandbytes kernel's own rounding, far below the NF4 error.
    full_gap = into_full.vs_4bit_training_base.max_abs_logit_diff
    dequantized_gap = into_dequantized.vs_4bit_training_base.max_abs_logit_diff
    assert dequantized_gap < full_gap / 5
    merged = load_causal_lm(tmp_path / "dequantized")
    assert "quantization_config" not in json.loads((tmp_path / "dequantized" / "config.json").read_text())
    dequantized_base = load_causal_lm(tiny_model.path, load_in_4bit=True).dequantize()
    on_dequantized_base = PeftModel.from_pretrained(dequantized_base, adapter).eval()
    assert max_diff(logits(merged), logits(on_dequantized_base)) < 1e-4


def test_adapter_without_effect_is_an_error_and_writes_nothing(make_adapter, tmp_path):
    adapter = make_adapter("untrained", effect=False)
    with pytest.raises(ArtifactError, match="no effect"):
        merge_adapter(adapter, tmp_path / "merged")
    assert not (tmp_path / "merged").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".merged")]


def test_failed_verification_writes_nothing(make_adapter, tmp_path):
    adapter = make_adapter("a", seed=1)
    with pytest.raises(ArtifactError, match="differ from the unmerged"):
        merge_adapter(adapter, tmp_path / "merged", tolerance=-1.0)
    assert not (tmp_path / "merged").exists()


def test_existing_output_is_kept_unless_overwrite(make_adapter, tmp_path):
    adapter = make_adapter("a", seed=1)
    out = tmp_path / "merged"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    with pytest.raises(ConfigError, match="--overwrite"):
        merge_adapter(adapter, out)
    assert (out / "precious.txt").read_text() == "keep me"
    with pytest.raises(ConfigError, match="source folder"):
        merge_adapter(adapter, adapter / "inside")
    with pytest.raises(ConfigError, match="contains the source folder"):
        merge_adapter(adapter, tmp_path, overwrite=True)
    assert (adapter / "adapter_config.json").is_file()
    merge_adapter(adapter, out, overwrite=True, verify=False)
    assert (out / MERGE_RECORD_FILE).is_file() and not (out / "precious.txt").exists()


def test_merge_carries_modules_to_save_copies(make_adapter, tiny_model, tmp_path):
    adapter = make_adapter("copy", seed=4, modules_to_save=["lm_head"])
    merge_adapter(adapter, tmp_path / "merged")
    merged = load_causal_lm(tmp_path / "merged")
    assert max_diff(logits(merged), logits(unmerged_reference(tiny_model.path, adapter))) < 1e-4
