"""`compare` with methods beyond the LoRA family: packing is off for all when prompt/prefix tuning is compared
(on SmolLM2 with real rows: tests/compare/test_smollm2_compare.py)."""

import json

from adaptlab.compare.config import CompareConfig


def _config(tmp_path, **overrides) -> CompareConfig:
    data = tmp_path / "train.jsonl"
    data.write_text(json.dumps({"prompt": "a", "completion": "b"}) + "\n")
    return CompareConfig(model="builtin:tiny", data=[data], out=tmp_path / "out", **overrides)


def test_packing_is_off_for_every_method_when_one_cannot_pack(tmp_path):
    mixed = _config(tmp_path, methods=["lora", "ia3", "prefix"], packing=True)
    assert mixed.packing is False and set(mixed.packing_refusals()) == {"prefix"}
    assert "virtual tokens" in mixed.packing_refusals()["prefix"]
    assert _config(tmp_path, methods=["lora", "ia3"], packing=True).packing is True
    assert mixed.train_config("lora", 2e-4, tmp_path / "run").packing is False  # every run of the comparison

